package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/agent/status"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

const nodeName = "node1"

// newWEP returns a k8s WorkloadEndpoint on node, in namespace "default".
func newWEP(t testing.TB, node, pod, iface, mac string, ips ...string) *v3.WorkloadEndpoint {
	t.Helper()
	w := v3.NewWorkloadEndpoint()
	name, err := v3.WorkloadEndpointName(node, v3.OrchestratorKubernetes, pod, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	w.Metadata.Name, w.Metadata.Namespace = name, "default"
	w.Spec = v3.WorkloadEndpointSpec{
		Orchestrator: v3.OrchestratorKubernetes, Node: node, Pod: pod, Endpoint: "eth0",
		InterfaceName: iface, MAC: mac, IPNetworks: ips, Profiles: []string{"kns.default"},
	}
	return w
}

// allowProfile is a profile whose rules allow all traffic both ways.
func allowProfile(name string) *v3.Profile {
	p := v3.NewProfile()
	p.Metadata.Name = name
	p.Spec.Ingress = []v3.Rule{{Action: v3.Allow}}
	p.Spec.Egress = []v3.Rule{{Action: v3.Allow}}
	return p
}

// watcher collects what the agent reports through its callbacks.
type watcher struct {
	mu       sync.Mutex
	statuses map[string]string
	health   Health
	healths  []Health // every health reported, in order
	config   config.Config
	changed  chan struct{}
}

func newWatcher() *watcher {
	return &watcher{statuses: map[string]string{}, changed: make(chan struct{}, 1)}
}

func (w *watcher) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watcher) hook(cfg *Config) {
	cfg.OnEndpointStatus = func(st []EndpointStatus) {
		w.mu.Lock()
		w.statuses = map[string]string{}
		for _, s := range st {
			w.statuses[s.Key] = s.Status
		}
		w.mu.Unlock()
		w.poke()
	}
	cfg.OnHealth = func(h Health) {
		w.mu.Lock()
		w.health = h
		w.healths = append(w.healths, h)
		w.mu.Unlock()
		w.poke()
	}
	cfg.OnConfig = func(c config.Config) {
		w.mu.Lock()
		w.config = c
		w.mu.Unlock()
		w.poke()
	}
}

// waitFor waits until cond holds over the reported state. The deadline
// only keeps a broken test from hanging.
func (w *watcher) waitFor(t testing.TB, what string, cond func(statuses map[string]string, h Health) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		w.mu.Lock()
		st, h := maps(w.statuses), w.health
		w.mu.Unlock()
		if cond(st, h) {
			return
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			t.Fatalf("never: %s (statuses %v, health %+v)", what, st, h)
		}
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func wantStatuses(want map[string]string) func(map[string]string, Health) bool {
	return func(st map[string]string, h Health) bool { return cmp.Equal(want, st) && h.Ready }
}

func TestNothingIsProgrammedBeforeInSync(t *testing.T) {
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	initial := k.Dump()
	w := newWatcher()
	cfg := Config{NodeName: nodeName, Backend: nil}
	w.hook(&cfg)
	a := newAgent(cfg, dp, nil, nil)
	iterations := make(chan bool, 100)
	a.onIteration = func(applied bool) { iterations <- applied }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	defer func() { cancel(); <-done }()

	wep := newWEP(t, nodeName, "p1", "cali1", "", "10.0.0.1/32")
	key, _ := resources.KeyOf(wep)
	a.OnStatusUpdated(syncer.StatusResyncInProgress)
	a.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: wep}})
	if applied := <-iterations; applied {
		t.Fatal("applied before in sync")
	}
	if diff := cmp.Diff(initial, k.Dump()); diff != "" {
		t.Fatalf("kernel changed before in sync (-before +after):\n%s", diff)
	}
	a.OnStatusUpdated(syncer.StatusInSync)
	w.waitFor(t, "endpoint up", wantStatuses(map[string]string{"default/" + wep.Metadata.Name: StatusUp}))
	if !strings.Contains(k.Dump(), "route 10.0.0.1/32 dev cali1 proto 80 scope link") {
		t.Fatalf("route missing:\n%s", k.Dump())
	}
}

// TestAFailedObjectIsRetriedAloneAndReported: a route add that fails once
// makes its endpoint fail alone: the agent stays ready, degraded, naming
// it, and the endpoint's own retry programs it.
func TestAFailedObjectIsRetriedAloneAndReported(t *testing.T) {
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	w := newWatcher()
	cfg := Config{NodeName: nodeName}
	w.hook(&cfg)
	reg := prometheus.NewRegistry()
	a := newAgent(cfg, dp, nil, newMetrics(reg))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	defer func() { cancel(); <-done }()

	k.FailNext("addRoute", fmt.Errorf("injected failure"))
	wep := newWEP(t, nodeName, "p1", "cali1", "", "10.0.0.1/32")
	key, _ := resources.KeyOf(wep)
	a.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: wep}})
	a.OnStatusUpdated(syncer.StatusInSync)
	want := Health{Live: true, Ready: true, Degraded: true,
		Detail: "1 object not programmed, each retried: endpoint default/" + wep.Metadata.Name + " (route 10.0.0.1/32 dev cali1: injected failure)"}
	w.waitFor(t, "degraded health", func(map[string]string, Health) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return slices.Contains(w.healths, want)
	})
	// The retry, after its backoff, succeeds.
	w.waitFor(t, "endpoint up", wantStatuses(map[string]string{"default/" + wep.Metadata.Name: StatusUp}))
	w.waitFor(t, "health ok", func(_ map[string]string, h Health) bool { return h == Health{Live: true, Ready: true} })
	w.mu.Lock()
	for _, h := range w.healths[1:] { // the first is "waiting for the datastore"
		if !h.Ready {
			t.Errorf("not ready on an object's failure: %+v", h)
		}
	}
	w.mu.Unlock()
	if n := counter(t, reg, "calico_agent_dataplane_apply_errors_total"); n != 0 {
		t.Errorf("apply errors = %v, want 0", n)
	}
	if n := counter(t, reg, "calico_agent_failed_objects"); n != 0 {
		t.Errorf("failed objects = %v, want 0", n)
	}
	if n := histogramCount(t, reg, "calico_agent_programming_latency_seconds"); n != 1 {
		t.Errorf("latency observations = %v", n)
	}
}

// TestAFailureToReadTheKernelIsNotReady: when the dataplane cannot work
// at all (the kernel cannot be read, the netlink socket is broken), the
// agent is not ready until an apply succeeds.
func TestAFailureToReadTheKernelIsNotReady(t *testing.T) {
	for _, tt := range []struct {
		op     string
		err    error
		detail string
	}{
		{"listRoutes", fmt.Errorf("injected failure"), "dataplane errors: list routes: injected failure"},
		{"addRoute", syscall.EBADF, "dataplane errors: kernel access broken: endpoint default/node1-k8s-p1-eth0: route 10.0.0.1/32 dev cali1: bad file descriptor"},
	} {
		t.Run(tt.op, func(t *testing.T) {
			dp, k := dataplane.NewFake(nil, nil)
			defer dp.Close()
			k.AddLink("cali1", true)
			w := newWatcher()
			cfg := Config{NodeName: nodeName}
			w.hook(&cfg)
			reg := prometheus.NewRegistry()
			a := newAgent(cfg, dp, nil, newMetrics(reg))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); a.loop(ctx) }()
			defer func() { cancel(); <-done }()

			k.FailNext(tt.op, tt.err)
			wep := newWEP(t, nodeName, "p1", "cali1", "", "10.0.0.1/32")
			key, _ := resources.KeyOf(wep)
			a.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: wep}})
			a.OnStatusUpdated(syncer.StatusInSync)
			w.waitFor(t, "endpoint up", wantStatuses(map[string]string{"default/" + wep.Metadata.Name: StatusUp}))
			w.mu.Lock()
			want := Health{Live: true, Detail: tt.detail}
			if !slices.Contains(w.healths, want) {
				t.Errorf("health never %+v: %+v", want, w.healths)
			}
			w.mu.Unlock()
			if n := counter(t, reg, "calico_agent_dataplane_apply_errors_total"); n != 1 {
				t.Errorf("apply errors = %v, want 1", n)
			}
		})
	}
}

// frozenClock is a dataplane clock that moves only when told to.
type frozenClock struct{ ns atomic.Int64 }

func newFrozenClock() *frozenClock {
	c := &frozenClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *frozenClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *frozenClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestOneFailingEndpointKeepsTheAgentReady: a foreign route in the way of
// one endpoint fails that endpoint alone. The agent stays ready and
// reports itself degraded, naming it; its status is error; an endpoint
// added meanwhile is programmed at once, although the failing one is
// never due for a retry (the dataplane's clock stands still); once the
// foreign route goes and its retry is due, it is programmed without any
// re-reading of the kernel, and health is ok again.
func TestOneFailingEndpointKeepsTheAgentReady(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	clock := newFrozenClock()
	dp, k := dataplane.NewFakeConfig(dataplane.Config{Metrics: m.dataplane, Clock: clock.now})
	defer dp.Close()
	for _, l := range []string{"eth0", "cali1", "cali2", "cali3"} {
		k.AddLink(l, true)
	}
	k.AddRoute("10.0.0.1/32", "eth0", 3) // not the agent's: proto boot, another interface
	w := newWatcher()
	cfg := Config{NodeName: nodeName}
	w.hook(&cfg)
	a := newAgent(cfg, dp, nil, m)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	defer func() { cancel(); <-done }()

	add := func(pod, iface, ip string) string {
		wep := newWEP(t, nodeName, pod, iface, "", ip)
		key, _ := resources.KeyOf(wep)
		a.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: wep}})
		return "default/" + wep.Metadata.Name
	}
	p1, p2 := add("p1", "cali1", "10.0.0.1/32"), add("p2", "cali2", "10.0.0.2/32")
	a.OnStatusUpdated(syncer.StatusInSync)
	degraded := Health{Live: true, Ready: true, Degraded: true, Detail: "1 object not programmed, each retried: endpoint " + p1 +
		" (route 10.0.0.1/32 dev cali1: another route to 10.0.0.1/32 exists that the agent does not own; not replacing it)"}
	w.waitFor(t, "p1 failed alone", func(st map[string]string, h Health) bool {
		return cmp.Equal(st, map[string]string{p1: StatusError, p2: StatusUp}) && h == degraded
	})
	if n := labelledCounter(t, reg, "calico_agent_failed_objects", map[string]string{"kind": "endpoint"}); n != 1 {
		t.Errorf("failed endpoints = %v, want 1", n)
	}

	p3 := add("p3", "cali3", "10.0.0.3/32")
	w.waitFor(t, "p3 programmed while p1 fails", func(st map[string]string, h Health) bool {
		return cmp.Equal(st, map[string]string{p1: StatusError, p2: StatusUp, p3: StatusUp}) && h == degraded
	})
	if !strings.Contains(k.Dump(), "route 10.0.0.3/32 dev cali3 proto 80 scope link") {
		t.Fatalf("p3's route missing:\n%s", k.Dump())
	}
	if n := counter(t, reg, "calico_agent_object_retries_total"); n != 0 {
		t.Errorf("retries = %v before p1 was due", n)
	}
	w.mu.Lock()
	for _, h := range w.healths[1:] { // the first is "waiting for the datastore"
		if !h.Ready {
			t.Errorf("not ready: %+v", h)
		}
	}
	w.mu.Unlock()
	if n := counter(t, reg, "calico_agent_dataplane_apply_errors_total"); n != 0 {
		t.Errorf("apply errors = %v, want 0", n)
	}

	k.DelRoute("10.0.0.1/32")
	// Due, whatever its back-off (link events may have made it try
	// again before).
	clock.advance(dataplane.MaxRetry)
	w.waitFor(t, "p1 up by its retry", func(st map[string]string, h Health) bool {
		return cmp.Equal(st, map[string]string{p1: StatusUp, p2: StatusUp, p3: StatusUp}) && h == Health{Live: true, Ready: true}
	})
	if n := counter(t, reg, "calico_agent_object_retries_total"); n != 1 {
		t.Errorf("retries = %v, want 1", n)
	}
	if n := counter(t, reg, "calico_agent_dataplane_resyncs_total"); n != 1 {
		t.Errorf("resyncs = %v, want 1 (the first apply's)", n)
	}
	if n := counter(t, reg, "calico_agent_failed_objects"); n != 0 {
		t.Errorf("failed objects = %v, want 0", n)
	}
}

func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// labelledCounter is the value of the counter (or gauge) name with the
// labels given (0 when there is none).
func labelledCounter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}

func histogramCount(t testing.TB, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	return histogram(t, reg, name).GetSampleCount()
}

// histogram is the unlabelled histogram name (empty when there is none).
func histogram(t testing.TB, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return &dto.Histogram{}
}

func TestRunAgainstEtcd(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	k.AddLink("cali2", true)
	w := newWatcher()
	reg := prometheus.NewRegistry()
	cfg := Config{NodeName: nodeName, Backend: be, Registry: reg}
	w.hook(&cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, dp, nil, newMetrics(reg)) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	defer stop()

	create := func(r v3.Resource) v3.Resource {
		t.Helper()
		out, err := c.Create(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := create(newWEP(t, nodeName, "pa", "cali1", "ee:ee:ee:00:00:01", "10.0.0.1/32", "fd00::1/128")).(*v3.WorkloadEndpoint)
	b := create(newWEP(t, nodeName, "pb", "cali2", "", "10.0.0.2/32")).(*v3.WorkloadEndpoint)
	create(newWEP(t, "node2", "pr", "cali3", "", "10.0.0.3/32")) // remote: ignored
	dup := create(newWEP(t, nodeName, "pd", "cali4", "", "10.0.0.1/32")).(*v3.WorkloadEndpoint)
	keyA, keyB, keyDup := "default/"+a.Metadata.Name, "default/"+b.Metadata.Name, "default/"+dup.Metadata.Name
	w.waitFor(t, "endpoints reported", wantStatuses(map[string]string{keyA: StatusUp, keyB: StatusUp, keyDup: StatusError}))
	dump := k.Dump()
	for _, want := range []string{
		"route 10.0.0.1/32 dev cali1 proto 80 scope link",
		"route fd00::1/128 dev cali1 proto 80 scope global",
		"route 10.0.0.2/32 dev cali2 proto 80 scope link",
		"neigh 10.0.0.1 dev cali1 lladdr ee:ee:ee:00:00:01 permanent",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("missing %q in\n%s", want, dump)
		}
	}
	if strings.Contains(dump, "10.0.0.3") {
		t.Errorf("remote endpoint programmed:\n%s", dump)
	}

	// Per-node configuration moves the agent to other interfaces.
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "node." + nodeName
	fc.Spec.InterfacePrefix = "tap"
	create(fc)
	w.waitFor(t, "endpoints outside the prefixes", wantStatuses(map[string]string{keyA: StatusError, keyB: StatusError, keyDup: StatusError}))
	if strings.Contains(k.Dump(), "proto 80") {
		t.Errorf("routes left on interfaces no longer managed:\n%s", k.Dump())
	}
	if _, err := c.Delete(t.Context(), v3.KindFelixConfiguration, "", fc.Metadata.Name, ""); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "endpoints back", wantStatuses(map[string]string{keyA: StatusUp, keyB: StatusUp, keyDup: StatusError}))

	// Deleting the older owner of 10.0.0.1 hands the address over.
	if _, err := c.Delete(t.Context(), v3.KindWorkloadEndpoint, "default", a.Metadata.Name, ""); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "endpoint a gone", wantStatuses(map[string]string{keyB: StatusUp, keyDup: StatusDown}))
	if strings.Contains(k.Dump(), "dev cali1") {
		t.Errorf("endpoint a left kernel state:\n%s", k.Dump())
	}
	k.AddLink("cali4", false)
	w.waitFor(t, "dup endpoint up", wantStatuses(map[string]string{keyB: StatusUp, keyDup: StatusUp}))
	if !strings.Contains(k.Dump(), "route 10.0.0.1/32 dev cali4 proto 80 scope link") {
		t.Errorf("address not handed over:\n%s", k.Dump())
	}
	if n := histogramCount(t, reg, "calico_agent_programming_latency_seconds"); n == 0 {
		t.Error("no programming latency observed")
	}

	// Stopping removes nothing.
	before := k.Dump()
	stop()
	if diff := cmp.Diff(before, k.Dump()); diff != "" {
		t.Errorf("stopping changed the kernel (-before +after):\n%s", diff)
	}
	w.mu.Lock()
	h := w.health
	w.mu.Unlock()
	if h.Live || h.Ready {
		t.Errorf("health after stop: %+v", h)
	}
}

func TestConfigIsReported(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "default"
	fc.Spec.OpenstackRegion = "r1"
	fc.Spec.EndpointReportingEnabled = new(true)
	if _, err := c.Create(t.Context(), fc); err != nil {
		t.Fatal(err)
	}
	dp, _ := dataplane.NewFake(nil, nil)
	defer dp.Close()
	w := newWatcher()
	cfg := Config{NodeName: nodeName, Backend: be}
	w.hook(&cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, dp, nil, nil) }()
	defer func() { cancel(); <-done }()
	w.waitFor(t, "config reported", func(map[string]string, Health) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.config.Region() == "region-r1" && w.config.EndpointReportingEnabled
	})
}

func TestRunValidatesConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {NodeName: "n"}} {
		if err := Run(t.Context(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}

// The status reporter takes the agent's statuses by plain conversion.
var _ = status.EndpointStatus(EndpointStatus{})
