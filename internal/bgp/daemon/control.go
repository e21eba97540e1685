package daemon

import (
	"context"
	"errors"

	"github.com/gocalico/calico/internal/bgp/birdctl"
)

// SocketControl is the Controller over BIRD's control socket (birdctl),
// the default when Config.Control is nil.
type SocketControl struct{}

// Configure implements Controller: BIRD's error reply becomes *Refused.
func (SocketControl) Configure(ctx context.Context, socket, path string) error {
	c, err := birdctl.Dial(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Configure(ctx, path); err != nil {
		var re *birdctl.ReplyError
		if errors.As(err, &re) {
			return &Refused{Reason: err.Error()}
		}
		return err
	}
	return nil
}

// GracefulShutdown implements Controller with BIRD's `graceful restart`.
func (SocketControl) GracefulShutdown(ctx context.Context, socket string) error {
	c, err := birdctl.Dial(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Command(ctx, "graceful restart")
	return err
}
