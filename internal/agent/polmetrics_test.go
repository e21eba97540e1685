package agent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// recordingPlane is a policyPlane that keeps what it is given and fails
// the applies it is told to.
type recordingPlane struct {
	mu      sync.Mutex
	applied []*nft.Ruleset
	fail    int
	calls   chan struct{}
}

func (p *recordingPlane) Apply(_ context.Context, rs *nft.Ruleset) error {
	p.mu.Lock()
	defer func() {
		p.mu.Unlock()
		select {
		case p.calls <- struct{}{}:
		default:
		}
	}()
	if p.fail > 0 {
		p.fail--
		return fmt.Errorf("injected nftables failure")
	}
	p.applied = append(p.applied, rs)
	return nil
}
func (p *recordingPlane) Resync() {}
func (p *recordingPlane) Counters(context.Context) (map[string]nft.Counter, error) {
	return nil, nil
}
func (p *recordingPlane) Close() error { return nil }

func (p *recordingPlane) appliedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.applied)
}

// TestPolicyProgrammingLatency: calico_agent_policy_programming_latency_seconds
// gets one observation per successful policy apply, taken from the
// earliest update it carries (a failed apply observes nothing and the
// retry keeps the first arrival), and none for updates that do not
// change the table.
func TestPolicyProgrammingLatency(t *testing.T) {
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	pol := &recordingPlane{fail: 1, calls: make(chan struct{}, 1)}
	reg := prometheus.NewRegistry()
	a := newAgent(Config{NodeName: nodeName}, dp, pol, newMetrics(reg))
	// The agent's clock: each reading is 10 ms after the last.
	var clock time.Time
	var clockMu sync.Mutex
	a.now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		clock = clock.Add(10 * time.Millisecond)
		return clock
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	defer func() { cancel(); <-done }()

	update := func(r v3.Resource) {
		key, err := resources.KeyOf(r)
		if err != nil {
			t.Fatal(err)
		}
		a.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: r}})
	}
	// waitApplied waits for the nth successful apply and its
	// observation (made just after Apply returns).
	waitApplied := func(n int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for pol.appliedCount() < n || histogramCount(t, reg, "calico_agent_policy_programming_latency_seconds") < uint64(n) {
			select {
			case <-pol.calls:
			case <-time.After(time.Millisecond):
			case <-deadline:
				t.Fatalf("policy applies: %d, want %d (failures still to inject %d)", pol.appliedCount(), n, pol.fail)
			}
		}
	}
	update(allowProfile("kns.default"))
	update(newWEP(t, nodeName, "p1", "cali1", "", "10.0.0.1/32"))
	a.OnStatusUpdated(syncer.StatusInSync)
	waitApplied(1) // after the injected failure and a retry
	if n := histogramCount(t, reg, "calico_agent_policy_programming_latency_seconds"); n != 1 {
		t.Fatalf("observations after the first apply = %d, want 1", n)
	}
	first := histogram(t, reg, "calico_agent_policy_programming_latency_seconds").GetSampleSum()

	gnp := v3.NewGlobalNetworkPolicy()
	gnp.Metadata.Name = "default.web"
	gnp.Spec.Selector = "all()"
	gnp.Spec.Ingress = []v3.Rule{{Action: v3.Allow}}
	update(gnp)
	waitApplied(2)
	if n := histogramCount(t, reg, "calico_agent_policy_programming_latency_seconds"); n != 2 {
		t.Fatalf("observations after a policy update = %d, want 2", n)
	}
	// The retried apply's latency runs from the first update, across the
	// failure: more clock readings than the second, clean apply.
	if second := histogram(t, reg, "calico_agent_policy_programming_latency_seconds").GetSampleSum() - first; first <= second || second <= 0 {
		t.Errorf("first apply (with a retry) observed %v s, the second %v s", first, second)
	}
}
