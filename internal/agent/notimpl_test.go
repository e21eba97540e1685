package agent

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// warnings is a slog handler that keeps the Warn records about fields
// not implemented, as "name field value".
type warnings struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn || !strings.Contains(r.Message, "not implemented") {
		return nil
	}
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	w.mu.Lock()
	w.lines = append(w.lines, attrs["name"]+" "+attrs["field"]+" "+attrs["value"])
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return nil
}

// waitFor waits until line has been logged n times in all, and returns
// everything logged. The deadline only keeps a broken test from hanging.
func (w *warnings) waitFor(t *testing.T, line string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for {
		w.mu.Lock()
		got := append([]string(nil), w.lines...)
		w.mu.Unlock()
		count := 0
		for _, l := range got {
			if l == line {
				count++
			}
		}
		if count >= n {
			return got
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			t.Fatalf("never logged %q %d times; logged %q", line, n, got)
		}
	}
}

// TestAgentLogsNotImplementedOnce: the agent logs a stored field it does
// not act on once per object, not again for an update that leaves it as
// it was, and again when its value changes.
func TestAgentLogsNotImplementedOnce(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	dp, _ := dataplane.NewFake(nil, nil)
	defer dp.Close()
	w := &warnings{changed: make(chan struct{}, 1)}
	cfg := Config{NodeName: nodeName, Backend: be, Log: slog.New(w)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, dp, nil, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	pool := func(name, cidr string, ipip v3.EncapMode, label string) *v3.IPPool {
		p := v3.NewIPPool()
		p.Metadata.Name = name
		p.Metadata.Labels = map[string]string{"step": label}
		p.Spec.CIDR, p.Spec.IPIPMode = cidr, ipip
		return p
	}
	if _, err := c.Create(t.Context(), pool("p1", "10.1.0.0/16", v3.EncapAlways, "1")); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, `p1 spec.ipipMode "Always"`, 1)

	// An update that leaves the field as it was, then a marker: once the
	// marker is logged, the update before it has been seen (one prefix,
	// delivered in order).
	if _, err := c.Apply(t.Context(), pool("p1", "10.1.0.0/16", v3.EncapAlways, "2")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(t.Context(), pool("marker", "10.2.0.0/16", v3.EncapCrossSubnet, "1")); err != nil {
		t.Fatal(err)
	}
	got := w.waitFor(t, `marker spec.ipipMode "CrossSubnet"`, 1)
	if n := strings.Count(strings.Join(got, "\n"), `p1 spec.ipipMode "Always"`); n != 1 {
		t.Errorf("p1 logged %d times for one value; logged %q", n, got)
	}

	if _, err := c.Apply(t.Context(), pool("p1", "10.1.0.0/16", v3.EncapCrossSubnet, "3")); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, `p1 spec.ipipMode "CrossSubnet"`, 1)
}
