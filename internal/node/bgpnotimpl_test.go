package node

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/bgp/birdcfg"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// warnLog keeps Warn records as "name field value".
type warnLog struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnLog) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnLog) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnLog) WithGroup(string) slog.Handler            { return w }
func (w *warnLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn {
		return nil
	}
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	w.mu.Lock()
	w.lines = append(w.lines, strings.TrimSpace(attrs["name"]+" "+attrs["field"]+" "+attrs["value"]))
	w.mu.Unlock()
	return nil
}

func (w *warnLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.lines
	w.lines = nil
	return out
}

// TestBGPLogsNotImplementedOnce: the BGP side's syncer callbacks log a
// BGPPeer's filters once, again when they change, leave IP pools to the
// agent, and still hand every update to the BGP view.
func TestBGPLogsNotImplementedOnce(t *testing.T) {
	w := &warnLog{}
	b := &bgp{node: "n1", log: slog.New(w), view: birdcfg.NewView(), wake: make(chan struct{}, 1)}
	cb := reportBGPNotImplemented(b)
	peer := func(filters ...string) *v3.BGPPeer {
		p := v3.NewBGPPeer()
		p.Metadata.Name = "tor"
		p.Spec.PeerIP, p.Spec.ASNumber, p.Spec.Filters = "10.0.0.254", 65001, filters
		return p
	}
	pool := v3.NewIPPool()
	pool.Metadata.Name = "p1"
	pool.Spec.CIDR, pool.Spec.VXLANMode = "10.1.0.0/16", v3.EncapAlways
	peerKey, _ := resources.KeyOf(peer())
	poolKey, _ := resources.KeyOf(pool)
	steps := []struct {
		name string
		u    syncer.Update
		want []string
	}{
		{"filters set", syncer.Update{Type: syncer.UpdateNew, Key: peerKey, Value: peer("f1")}, []string{`tor spec.filters ["f1"]`}},
		{"the same again", syncer.Update{Type: syncer.UpdateChanged, Key: peerKey, Value: peer("f1")}, nil},
		{"filters changed", syncer.Update{Type: syncer.UpdateChanged, Key: peerKey, Value: peer("f1", "f2")}, []string{`tor spec.filters ["f1","f2"]`}},
		{"an IP pool: the agent's", syncer.Update{Type: syncer.UpdateNew, Key: poolKey, Value: pool}, nil},
	}
	for _, st := range steps {
		cb.OnUpdates([]syncer.Update{st.u})
		if diff := cmp.Diff(st.want, w.take()); diff != "" {
			t.Errorf("%s: logged (-want +got):\n%s", st.name, diff)
		}
	}
	in := b.view.Input("n1")
	if len(in.Peers) != 1 || len(in.Pools) != 1 {
		t.Errorf("the BGP view has %d peers and %d pools; want 1 and 1", len(in.Peers), len(in.Pools))
	}
}
