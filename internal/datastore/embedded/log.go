package embedded

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// expectedWarnings are warnings etcd logs on every start of this
// single-port, auth-less setup; they are demoted to debug.
var expectedWarnings = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

// quietHandler demotes etcd's expected noise to debug: the start-up
// warnings above, and everything logged while the server is being closed
// (listeners report "use of closed network connection" as errors).
type quietHandler struct {
	inner   slog.Handler
	closing *atomic.Bool
}

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l) || h.inner.Enabled(ctx, slog.LevelDebug)
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.closing.Load() || expectedWarnings[r.Message] {
		r.Level = min(r.Level, slog.LevelDebug)
	}
	if !h.inner.Enabled(ctx, r.Level) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h *quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &quietHandler{inner: h.inner.WithAttrs(as), closing: h.closing}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{inner: h.inner.WithGroup(name), closing: h.closing}
}
