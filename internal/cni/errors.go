package cni

import (
	"context"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gocalico/calico/internal/ipam"
)

// CNI STATUS error codes (spec 1.1).
const (
	// ErrPluginNotAvailable: the plugin cannot serve ADD now.
	ErrPluginNotAvailable uint = 50
)

// retryable reports whether err means "the datastore is unreachable or
// busy": the runtime should try again later.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ipam.ErrContention) {
		return true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok {
			switch s.Code() {
			case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
				return true
			}
		}
	}
	return false
}

// asCNIError turns err into a *types.Error: CNI errors pass through,
// datastore unavailability becomes code 11 (try again later), anything
// else code 999 with what was being done.
func asCNIError(doing string, err error) error {
	if err == nil {
		return nil
	}
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	if retryable(err) {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("calico: %s: datastore unavailable or busy, try again later: %v", doing, err), "")
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("calico: %s: %v", doing, err), "")
}
