package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gocalico/calico/internal/lab"
)

// An endpoint whose route cannot be programmed (another program's route
// to its address is in the way) fails alone: the agent stays ready,
// reports itself degraded naming the endpoint, counts it in its metrics,
// reports "error" on the endpoint's status key, keeps programming the
// endpoints that come after it, and programs the
// failed one by its own retry once the route in the way is gone.
func TestPrivilegedFailedEndpointStaysLocal(t *testing.T) {
	on := true
	felix := e2eFelix()
	felix.EndpointReportingEnabled = &on
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 1, FelixConfiguration: felix})
	w1 := l.workload("host1-w1")
	l.waitReach(w1.Name, l.hostAddrs("host1")...)

	describe := func(i int) lab.Workload {
		w, err := l.NewWorkload("host1", i)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	start := func(w lab.Workload) {
		if err := l.Plug(l.ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := l.CreateEndpoint(l.ctx, w); err != nil {
			t.Fatal(err)
		}
	}

	// Another program's route to w2's address, put there before w2 exists:
	// the agent must not replace it.
	w2 := describe(2)
	foreign := w2.IPv4.String() + "/32"
	l.exec("host1", "ip", "route", "add", "blackhole", foreign, "proto", "static")
	start(w2)
	l.waitApplied(l.putRevision(l.resourceKey("WorkloadEndpoint", lab.WorkloadNamespace, w2.Endpoint)))

	agentState := func() (ready, degraded bool, detail, why string) {
		r, err := l.readiness("host1")
		if err != nil {
			return false, false, "", err.Error()
		}
		why = fmt.Sprintf("%d %s", r.Code, r.Status)
		for _, c := range r.Components {
			why += fmt.Sprintf("; %s ready=%v degraded=%v %s", c.Name, c.Ready, c.Degraded, c.Detail)
			if c.Name == "agent" {
				ready, degraded, detail = c.Ready && r.Code == http.StatusOK, c.Degraded, c.Detail
			}
		}
		return ready, degraded, detail, why
	}
	l.eventually(converge, "agent ready and degraded, naming "+w2.Endpoint, func() (bool, string) {
		ready, degraded, detail, why := agentState()
		return ready && degraded && strings.Contains(detail, w2.Endpoint) &&
			strings.Contains(detail, "does not own"), why
	})
	l.eventually(converge, "the failed endpoint counted and retried", func() (bool, string) {
		m, err := l.agentMetrics("host1")
		if err != nil {
			return false, err.Error()
		}
		failed, retries := m["calico_agent_failed_objects"], m["calico_agent_object_retries_total"]
		return failed == 1 && retries >= 1, fmt.Sprintf("failed_objects %v, object_retries_total %v", failed, retries)
	})
	// The endpoint's status key, which the orchestrator reads, says so.
	statusIs := func(want string) {
		key := "/calico/felix/v2/no-region/host/host1/workload/k8s/default%2f" + w2.Name + "/endpoint/eth0"
		l.eventually(converge, key+" = "+want, func() (bool, string) {
			kv, err := l.backend().Get(l.ctx, key)
			if err != nil {
				return false, err.Error()
			}
			return string(kv.Value) == `{"status":"`+want+`"}`, string(kv.Value)
		})
	}
	statusIs("error")
	_, _, detail, _ := agentState()
	t.Logf("agent health: %s", detail)
	rs := l.routesTo("host1", w2.IPv4)
	if len(rs) != 1 || rs[0].Protocol != 4 { // RTPROT_STATIC
		t.Errorf("the route in the way was touched: routes to %s are %v", w2.IPv4, rs)
	}

	// Everything else goes on: an endpoint that comes after the failed one
	// is programmed and reached, and so is the one before it.
	w3 := describe(3)
	start(w3)
	l.waitReach(w1.Name, w3.Addrs()...)
	l.waitReach(w3.Name, w1.Addrs()...)
	for _, a := range w3.Addrs() {
		if _, ok := l.workloadRoute(w3, a); !ok {
			t.Errorf("host1 has no route %s dev %s", a, w3.Interface)
		}
	}
	if ready, _, _, why := agentState(); !ready {
		t.Errorf("agent not ready with one endpoint failed: %s", why)
	}

	// The route in the way goes: the endpoint's own retry programs it.
	l.exec("host1", "ip", "route", "del", "blackhole", foreign, "proto", "static")
	l.waitReach(w1.Name, w2.Addrs()...)
	l.waitReach(w2.Name, w1.Addrs()...)
	if _, ok := l.workloadRoute(w2, w2.IPv4); !ok {
		t.Errorf("host1 has no route %s dev %s", w2.IPv4, w2.Interface)
	}
	statusIs("up")
	l.eventually(converge, "agent no longer degraded", func() (bool, string) {
		ready, degraded, _, why := agentState()
		return ready && !degraded, why
	})
	l.eventually(converge, "no failed objects", func() (bool, string) {
		m, err := l.agentMetrics("host1")
		if err != nil {
			return false, err.Error()
		}
		return m["calico_agent_failed_objects"] == 0, fmt.Sprintf("failed_objects %v", m["calico_agent_failed_objects"])
	})
}
