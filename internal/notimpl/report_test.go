package notimpl

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

// capture is a slog handler keeping each record as one line:
// "LEVEL msg k=v k=v" (attributes sorted).
type capture struct {
	mu    sync.Mutex
	lines []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *capture) WithGroup(string) slog.Handler            { return c }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	var attrs []string
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, fmt.Sprintf("%s=%s", a.Key, a.Value))
		return true
	})
	sort.Strings(attrs)
	c.mu.Lock()
	c.lines = append(c.lines, strings.Join(append([]string{r.Level.String(), r.Message}, attrs...), " "))
	c.mu.Unlock()
	return nil
}

// take returns the lines logged since the last call.
func (c *capture) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.lines
	c.lines = nil
	return out
}

func pool(name string, vxlan v3.EncapMode, nat bool) *v3.IPPool {
	p := v3.NewIPPool()
	p.Metadata.Name = name
	p.Spec = v3.IPPoolSpec{CIDR: "10.1.0.0/16", VXLANMode: vxlan, IPIPMode: v3.EncapNever, NATOutgoing: nat}
	return p
}

const msg = "WARN not implemented by this version; stored but not acted on"

func warnLine(name, field, value, reason string) string {
	return msg + " field=" + field + " kind=IPPool name=" + name + " reason=" + reason + " value=" + value
}

// TestReporterOncePerObjectAndValue: a field is logged once per object,
// again when its value changes, when it is set again after being unset,
// and when its object comes back after a delete; other kinds are left to
// other components.
func TestReporterOncePerObjectAndValue(t *testing.T) {
	c := &capture{}
	p := NewReporter(slog.New(c), v3.KindIPPool)
	const key = "/calico/resources/v3/projectcalico.org/ippools/p1"
	vxlan := func(v string) string { return warnLine("p1", "spec.vxlanMode", v, whyEncap) }
	nat := warnLine("p1", "spec.natOutgoing", "true", whyNAT)
	steps := []struct {
		name string
		r    v3.Resource // nil: deleted
		want []string
	}{
		{"set", pool("p1", v3.EncapAlways, false), []string{vxlan(`"Always"`)}},
		{"the same again", pool("p1", v3.EncapAlways, false), nil},
		{"value changed", pool("p1", v3.EncapCrossSubnet, false), []string{vxlan(`"CrossSubnet"`)}},
		{"another field set", pool("p1", v3.EncapCrossSubnet, true), []string{nat}},
		{"both the same again", pool("p1", v3.EncapCrossSubnet, true), nil},
		{"back to the defaults", pool("p1", v3.EncapNever, false), nil},
		{"set again", pool("p1", v3.EncapCrossSubnet, false), []string{vxlan(`"CrossSubnet"`)}},
		{"deleted", nil, nil},
		{"created again", pool("p1", v3.EncapCrossSubnet, false), []string{vxlan(`"CrossSubnet"`)}},
		{"calico-node's default pool", pool("default-ipv4-ippool", v3.EncapNever, true), nil},
	}
	for _, st := range steps {
		k := key
		if st.r != nil {
			k = "/calico/resources/v3/projectcalico.org/ippools/" + st.r.GetObjectMeta().Name
		}
		p.Observe(k, st.r)
		if diff := cmp.Diff(st.want, c.take()); diff != "" {
			t.Errorf("%s: logged (-want +got):\n%s", st.name, diff)
		}
	}
	// A kind this reporter does not follow.
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "default"
	on := true
	fc.Spec.BPFEnabled = &on
	p.Observe("/calico/resources/v3/projectcalico.org/felixconfigurations/default", fc)
	if got := c.take(); len(got) > 0 {
		t.Errorf("FelixConfiguration logged by an IPPool reporter: %v", got)
	}
}

// TestReporterOnly: a reporter limited by Only reports the objects it
// keeps and forgets the ones it no longer keeps.
func TestReporterOnly(t *testing.T) {
	c := &capture{}
	p := NewReporter(slog.New(c), v3.KindIPPool).Only(func(r v3.Resource) bool {
		return r.GetObjectMeta().Name != "theirs"
	})
	p.Observe("/k/theirs", pool("theirs", v3.EncapAlways, false))
	if got := c.take(); len(got) > 0 {
		t.Errorf("an object Only refuses was logged: %v", got)
	}
	p.Observe("/k/mine", pool("mine", v3.EncapAlways, false))
	if got := c.take(); len(got) != 1 {
		t.Errorf("an object Only keeps: logged %v, want one line", got)
	}
	// The same key now holds an object Only refuses: forgotten, so it
	// is logged again when it is kept again.
	p.Observe("/k/mine", pool("theirs", v3.EncapAlways, false))
	p.Observe("/k/mine", pool("mine", v3.EncapAlways, false))
	if got := c.take(); len(got) != 1 {
		t.Errorf("kept again after being refused: logged %v, want one line", got)
	}
}

// recorder is syncer callbacks that keep what they were given.
type recorder struct {
	updates  []syncer.Update
	statuses []syncer.Status
}

func (r *recorder) OnStatusUpdated(st syncer.Status) { r.statuses = append(r.statuses, st) }
func (r *recorder) OnUpdates(us []syncer.Update)     { r.updates = append(r.updates, us...) }

// TestReporterWrap: wrapped callbacks report the updates and pass every
// update and status on unchanged.
func TestReporterWrap(t *testing.T) {
	c := &capture{}
	next := &recorder{}
	cb := NewReporter(slog.New(c), v3.KindIPPool).Wrap(next)
	const key = "/calico/resources/v3/projectcalico.org/ippools/p1"
	us := []syncer.Update{
		{Type: syncer.UpdateNew, Key: key, Value: pool("p1", v3.EncapAlways, false), Revision: 5},
		{Type: syncer.UpdateNew, Key: "/calico/ipam/v2/host/n/ipv4/block/10.1.0.0-26", Value: struct{}{}, Revision: 6},
	}
	cb.OnUpdates(us)
	cb.OnUpdates([]syncer.Update{{Type: syncer.UpdateChanged, Key: key, Value: pool("p1", v3.EncapAlways, false), Revision: 7}})
	cb.OnUpdates([]syncer.Update{{Type: syncer.UpdateDeleted, Key: key, Revision: 8}})
	cb.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: pool("p1", v3.EncapAlways, false), Revision: 9}})
	cb.OnStatusUpdated(syncer.StatusInSync)
	want := []string{
		warnLine("p1", "spec.vxlanMode", `"Always"`, whyEncap),
		warnLine("p1", "spec.vxlanMode", `"Always"`, whyEncap),
	}
	if diff := cmp.Diff(want, c.take()); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}
	if len(next.updates) != 5 || len(next.statuses) != 1 || next.statuses[0] != syncer.StatusInSync {
		t.Errorf("passed on %d updates and statuses %v; want 5 and [in sync]", len(next.updates), next.statuses)
	}
}

// TestReporterWholeObject: an object ignored as a whole is logged once,
// naming what is ignored.
func TestReporterWholeObject(t *testing.T) {
	c := &capture{}
	p := NewReporter(slog.New(c), v3.KindFelixConfiguration)
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "edge-nodes"
	const key = "/calico/resources/v3/projectcalico.org/felixconfigurations/edge-nodes"
	p.Observe(key, fc)
	p.Observe(key, fc.DeepCopy())
	want := []string{msg + ` kind=FelixConfiguration name=edge-nodes object=a FelixConfiguration named other than "default" or "node.<name>"` +
		` reason=selector-scoped configurations are not applied: only "default" and "node.<name>" are`}
	if diff := cmp.Diff(want, c.take()); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}
}
