package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// rejectingPlane is a policyPlane standing in for a kernel that lacks a
// feature: while reject is set, it rejects, as the kernel rejects a
// transaction, every ruleset with a rule of the policy named by
// rejectPolicy (by its rules' comments). It keeps the last ruleset it
// accepted: what the kernel holds.
type rejectingPlane struct {
	mu       sync.Mutex
	reject   bool
	policy   string
	accepted *nft.Ruleset
}

func (p *rejectingPlane) Apply(_ context.Context, rs *nft.Ruleset) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reject {
		for name, c := range rs.Chains {
			for i, r := range c.Rules {
				if strings.Contains(r.Comment, p.policy+":") {
					return fmt.Errorf("fake kernel: chain %s rule %d: operation not supported: %w", name, i, nft.ErrRejected)
				}
			}
		}
	}
	p.accepted = rs
	return nil
}

func (p *rejectingPlane) Resync() {}
func (p *rejectingPlane) Counters(context.Context) (map[string]nft.Counter, error) {
	return nil, nil
}
func (p *rejectingPlane) Close() error { return nil }

func (p *rejectingPlane) setReject(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reject = on
}

// chain returns what the kernel holds of a chain.
func (p *rejectingPlane) chain(name string) *nft.Chain {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accepted == nil {
		return nil
	}
	return p.accepted.Chains[name]
}

// dispatch returns the maps ("from-wl", "to-wl") in which the kernel
// holds an element for iface.
func (p *rejectingPlane) dispatch(iface string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range []string{"from-wl", "to-wl"} {
		if _, ok := p.accepted.Maps[m].Elements[iface]; ok {
			out = append(out, m)
		}
	}
	return out
}

// TestPolicyFailureStaysLocal: a policy the kernel rejects fails alone.
// The endpoint it selects keeps its previous chains, a new endpoint it
// selects is left out of the dispatch maps (its traffic is dropped), both
// are reported in error, the agent stays ready and degraded naming the
// policy's chain, and everything else (another new endpoint) is
// programmed. Once the kernel takes it, its own retry applies it.
func TestPolicyFailureStaysLocal(t *testing.T) {
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	for _, l := range []string{"cali1", "cali2", "cali3", "cali4"} {
		k.AddLink(l, true)
	}
	pol := &rejectingPlane{policy: "g-default.unsupported"}
	reg := prometheus.NewRegistry()
	w := newWatcher()
	cfg := Config{NodeName: nodeName}
	w.hook(&cfg)
	a := newAgent(cfg, dp, pol, newMetrics(reg))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	defer func() { cancel(); <-done }()

	update := func(r v3.Resource) {
		t.Helper()
		key, err := resources.KeyOf(r)
		if err != nil {
			t.Fatal(err)
		}
		a.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: r}})
	}
	addWEP := func(pod, iface, ip, app string) string {
		wep := newWEP(t, nodeName, pod, iface, "", ip)
		wep.Metadata.Labels = map[string]string{"app": app}
		update(wep)
		return "default/" + wep.Metadata.Name
	}
	update(allowProfile("kns.default"))
	p1, p2 := addWEP("p1", "cali1", "10.0.0.1/32", "web"), addWEP("p2", "cali2", "10.0.0.2/32", "db")
	a.OnStatusUpdated(syncer.StatusInSync)
	w.waitFor(t, "endpoints up", wantStatuses(map[string]string{p1: StatusUp, p2: StatusUp}))
	before := pol.chain("tw-cali2")
	if before == nil {
		t.Fatal("no chain tw-cali2 applied")
	}

	pol.setReject(true)
	gnp := v3.NewGlobalNetworkPolicy()
	gnp.Metadata.Name = "default.unsupported"
	gnp.Spec.Selector = "app == 'db'"
	gnp.Spec.Ingress = []v3.Rule{{Action: v3.Allow, Protocol: new(v3.ProtocolFromString("TCP"))}}
	update(gnp)
	p3, p4 := addWEP("p3", "cali3", "10.0.0.3/32", "web"), addWEP("p4", "cali4", "10.0.0.4/32", "db")
	w.waitFor(t, "the policy's endpoints in error, the others up", func(st map[string]string, h Health) bool {
		return cmp.Equal(st, map[string]string{p1: StatusUp, p2: StatusError, p3: StatusUp, p4: StatusError}) &&
			h.Ready && h.Degraded && strings.HasPrefix(h.Detail, "1 object not programmed, each retried: chain pi-g-default.unsupported (")
	})
	// p2 keeps its previous ingress chain. p4's ingress is left out of
	// the dispatch map: the forward chain's "cali*" drop takes its
	// traffic (the policy has no egress rules: p4's egress is as
	// wanted). p3 is in.
	if now := pol.chain("tw-cali2"); now != before {
		t.Errorf("p2's chain changed: %+v, was %+v", now, before)
	}
	if c := pol.chain("tw-cali4"); c != nil {
		t.Errorf("p4's ingress chain applied: %+v", c)
	}
	if diff := cmp.Diff([]string{"from-wl"}, pol.dispatch("cali4")); diff != "" {
		t.Errorf("p4's dispatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"from-wl", "to-wl"}, pol.dispatch("cali3")); diff != "" {
		t.Errorf("p3's dispatch (-want +got):\n%s", diff)
	}
	if pol.chain("fw-cali3") == nil || pol.chain("tw-cali3") == nil {
		t.Error("p3's chains are not applied")
	}
	if n := labelledCounter(t, reg, "calico_agent_failed_objects", map[string]string{"kind": "chain"}); n != 1 {
		t.Errorf("failed chains = %v, want 1", n)
	}
	if n := counter(t, reg, "calico_agent_dataplane_apply_errors_total"); n != 0 {
		t.Errorf("apply errors = %v, want 0", n)
	}

	// The kernel takes it now: the policy's own retry applies it.
	pol.setReject(false)
	w.waitFor(t, "all up", func(st map[string]string, h Health) bool {
		return cmp.Equal(st, map[string]string{p1: StatusUp, p2: StatusUp, p3: StatusUp, p4: StatusUp}) && h == Health{Live: true, Ready: true}
	})
	if pol.chain("pi-g-default.unsupported") == nil || pol.chain("tw-cali4") == nil {
		t.Error("the policy's chain or p4's ingress chain is not applied")
	}
	if diff := cmp.Diff([]string{"from-wl", "to-wl"}, pol.dispatch("cali4")); diff != "" {
		t.Errorf("p4's dispatch (-want +got):\n%s", diff)
	}
	if n := labelledCounter(t, reg, "calico_agent_object_retries_total", map[string]string{"kind": "chain"}); n < 1 {
		t.Errorf("chain retries = %v, want at least 1", n)
	}
	if n := counter(t, reg, "calico_agent_failed_objects"); n != 0 {
		t.Errorf("failed objects = %v, want 0", n)
	}
}
