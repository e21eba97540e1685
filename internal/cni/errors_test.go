package cni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

func TestRetryable(t *testing.T) {
	err := asCNIError("x", errors.New("boom"))
	var te *types.Error
	if !errors.As(err, &te) || te.Code != types.ErrInternal {
		t.Errorf("plain error: got %v, want code 999", err)
	}
	err = asCNIError("x", fmt.Errorf("get: %w", context.DeadlineExceeded))
	if !errors.As(err, &te) || te.Code != types.ErrTryAgainLater {
		t.Errorf("deadline: got %v, want code 11", err)
	}
	passed := types.NewError(types.ErrInvalidNetworkConfig, "m", "")
	if got := asCNIError("x", passed); got != passed {
		t.Errorf("CNI error not passed through: %v", got)
	}
}

// TestDatastoreUnavailable: with etcd unreachable, ADD asks the runtime
// to try again later (code 11) and STATUS says the plugin is not
// available (code 50). No root needed: nothing reaches the network.
func TestDatastoreUnavailable(t *testing.T) {
	dir := t.TempDir()
	conf := `{"cniVersion":"1.1.0","name":"net","type":"calico","nodename":"n1",
		"datastore_socket":"` + dir + `/no-etcd.sock","ipam_lock_file":"` + dir + `/ipam.lock",
		"ipam":{"type":"calico-ipam"}}`
	p := &Plugin{Stdout: io.Discard, Stderr: io.Discard, RequestTimeout: 300 * time.Millisecond}
	args := &skel.CmdArgs{ContainerID: "abc", IfName: "eth0", StdinData: []byte(conf)}
	for _, tc := range []struct {
		name string
		run  func(*skel.CmdArgs) error
		code uint
	}{
		{"calico-ipam ADD", p.IPAMAdd, types.ErrTryAgainLater},
		{"calico-ipam DEL", p.IPAMDel, types.ErrTryAgainLater},
		{"calico STATUS", p.CalicoStatus, ErrPluginNotAvailable},
		{"calico-ipam STATUS", p.IPAMStatus, ErrPluginNotAvailable},
	} {
		err := tc.run(args)
		var te *types.Error
		if !errors.As(err, &te) || te.Code != tc.code {
			t.Errorf("%s: got %v, want code %d", tc.name, err, tc.code)
		}
		// STATUS says why the datastore does not answer.
		if strings.Contains(tc.name, "STATUS") && te != nil && !strings.Contains(te.Msg, "no-etcd.sock: no such socket") {
			t.Errorf("%s: %q does not say the socket is missing", tc.name, te.Msg)
		}
	}
}

// TestRefuseInitNetNS: with the guard set, the plugin refuses the test
// process's own (unnamed) namespace. Only reads; no root needed.
func TestRefuseInitNetNS(t *testing.T) {
	t.Setenv(EnvRefuseInitNetNS, "")
	if err := refuseInitNetNS(); err != nil {
		t.Errorf("guard unset: %v", err)
	}
	t.Setenv(EnvRefuseInitNetNS, "1")
	if err := refuseInitNetNS(); err == nil {
		t.Error("guard set: the machine's namespace was accepted")
	}
}
