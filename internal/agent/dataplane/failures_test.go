package dataplane

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gocalico/calico/internal/agent/calc"
)

// fakeClock is the dataplane's clock in these tests: it moves only when
// told to.
type fakeClock struct{ now time.Time }

func (c *fakeClock) install(d *Linux) { d.now = func() time.Time { return c.now } }

// failureState is a Failure with its times relative to the clock's start
// and its error as text, for comparing whole.
type failureState struct {
	Kind, Name, Err string
	Since, Retry    time.Duration
	Attempts        int
}

func failureStates(fs []Failure, start time.Time) []failureState {
	var out []failureState
	for _, f := range fs {
		out = append(out, failureState{Kind: f.Kind, Name: f.Name, Err: strings.ReplaceAll(f.Err.Error(), "\n", "; "),
			Since: f.Since.Sub(start), Retry: f.Retry.Sub(start), Attempts: f.Attempts})
	}
	return out
}

// value is the value of a counter or gauge.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue() + m.GetGauge().GetValue()
}

func TestRetryDelay(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 12; n++ {
		got = append(got, retryDelay(n))
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms,
		25600 * ms, 51200 * ms, time.Minute, time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestOneFailingEndpointStaysLocal: a foreign route in the way of one
// endpoint fails that endpoint alone. The others are programmed, later
// changes are applied at once without touching it, it is retried on its
// own back-off without any re-reading of the kernel, and once the
// foreign route goes its own retry programs it.
func TestOneFailingEndpointStaysLocal(t *testing.T) {
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	d, k := NewFake(nil, m)
	defer d.Close()
	clock := &fakeClock{now: time.Unix(1000, 0)}
	start := clock.now
	clock.install(d)
	for _, l := range []string{"eth0", "cali1", "cali2", "cali3"} {
		k.AddLink(l, true)
	}
	k.AddRoute("10.0.0.1/32", "eth0", 3) // proto boot, as `ip route add` makes it
	delivered(t, d, k)

	a := endpoint("a", "cali1", "", "10.0.0.1/32")
	b := endpoint("b", "cali2", "", "10.0.0.2/32")
	c := endpoint("c", "cali3", "", "10.0.0.3/32")
	if err := d.Set(ctx, hostState(nil, a, b)); err != nil {
		t.Fatalf("Set: %v", err)
	}
	const obstacle = "route 10.0.0.1/32 dev cali1: another route to 10.0.0.1/32 exists that the agent does not own; not replacing it"
	wantFailure := func(t *testing.T, attempts int, retry time.Duration) {
		t.Helper()
		want := []failureState{{Kind: KindEndpoint, Name: "ns/a", Err: obstacle, Retry: retry, Attempts: attempts}}
		if diff := cmp.Diff(want, failureStates(d.Failures(), start)); diff != "" {
			t.Fatalf("failures (-want +got):\n%s", diff)
		}
		if in, ok := d.RetryIn(); !ok || clock.now.Add(in).Sub(start) != retry {
			t.Fatalf("RetryIn = %v, %v at %v; want a retry at %v", in, ok, clock.now.Sub(start), retry)
		}
	}
	wantFailure(t, 1, MinRetry)
	wantStatuses := func(t *testing.T, want map[string]string) {
		t.Helper()
		got := map[string]string{}
		for _, s := range d.EndpointStatuses() {
			got[s.Key] = s.Status
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s", diff)
		}
	}
	wantStatuses(t, map[string]string{"ns/a": StatusError, "ns/b": StatusUp})
	if d.Programmed() != 1 {
		t.Errorf("Programmed = %d, want 1", d.Programmed())
	}
	foreign := "route 10.0.0.1/32 dev eth0 proto 3 scope link"
	wantDump := func(t *testing.T, lines ...[]string) {
		t.Helper()
		want := expectDump([]string{"eth0", "cali1", "cali2", "cali3"}, flatten(append([][]string{hostFwd, configured("cali1", true)}, lines...)...)...)
		if diff := cmp.Diff(want, k.Dump()); diff != "" {
			t.Fatalf("kernel (-want +got):\n%s", diff)
		}
	}
	wantDump(t, configured("cali2", true), []string{foreign, "route 10.0.0.2/32 dev cali2 proto 80 scope link"})
	failedAdds := func() float64 { return value(t, m.fails.WithLabelValues("route_add")) }
	if n := failedAdds(); n != 1 {
		t.Fatalf("failed route adds = %v, want 1", n)
	}

	t.Run("later changes go ahead without touching it", func(t *testing.T) {
		if err := d.Update(ctx, []calc.EndpointChange{{Key: c.Key, Endpoint: &c}}); err != nil {
			t.Fatal(err)
		}
		if err := d.Update(ctx, []calc.EndpointChange{{Key: b.Key}}); err != nil {
			t.Fatal(err)
		}
		wantStatuses(t, map[string]string{"ns/a": StatusError, "ns/c": StatusUp})
		// b's route is gone (its interface keeps its settings); c's is in.
		wantDump(t, configured("cali2", true), configured("cali3", true), []string{foreign, "route 10.0.0.3/32 dev cali3 proto 80 scope link"})
		// Not yet due: not attempted.
		wantFailure(t, 1, MinRetry)
		if n := failedAdds(); n != 1 {
			t.Fatalf("failed route adds = %v, want 1: the failing endpoint was retried before its time", n)
		}
	})

	t.Run("its own back-off", func(t *testing.T) {
		retry := MinRetry
		for attempts := 1; attempts <= 12; attempts++ {
			clock.now = start.Add(retry - time.Millisecond)
			if err := d.Update(ctx, nil); err != nil {
				t.Fatal(err)
			}
			wantFailure(t, attempts, retry) // not yet
			clock.now = start.Add(retry)
			if err := d.Update(ctx, nil); err != nil {
				t.Fatal(err)
			}
			retry += retryDelay(attempts + 1)
			wantFailure(t, attempts+1, retry)
		}
		if n := failedAdds(); n != 13 {
			t.Errorf("failed route adds = %v, want 13", n)
		}
		if n := value(t, m.retries.WithLabelValues(KindEndpoint)); n != 12 {
			t.Errorf("retries = %v, want 12", n)
		}
	})

	t.Run("the obstacle goes: its retry programs it, without a resync", func(t *testing.T) {
		k.DelRoute("10.0.0.1/32")
		in, _ := d.RetryIn()
		clock.now = clock.now.Add(in)
		if err := d.Update(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if got := d.Failures(); len(got) != 0 {
			t.Fatalf("failures: %v", got)
		}
		if _, ok := d.RetryIn(); ok {
			t.Error("a retry is still scheduled")
		}
		wantStatuses(t, map[string]string{"ns/a": StatusUp, "ns/c": StatusUp})
		wantDump(t, configured("cali2", true), configured("cali3", true), []string{
			"route 10.0.0.1/32 dev cali1 proto 80 scope link", "route 10.0.0.3/32 dev cali3 proto 80 scope link"})
		if d.Programmed() != 2 {
			t.Errorf("Programmed = %d, want 2", d.Programmed())
		}
		// The only read of the kernel was the first Set's.
		if n := value(t, m.resyncs); n != 1 {
			t.Errorf("resyncs = %v, want 1", n)
		}
	})
}

// TestFailedObjectsOfEveryKind: each kind of object the dataplane owns
// fails alone, is reported by name, does not keep the rest from being
// programmed, and is programmed by its own retry once the kernel lets
// it.
func TestFailedObjectsOfEveryKind(t *testing.T) {
	type injection struct{ op, object string }
	tests := []struct {
		name   string
		setup  func(k *FakeKernel)
		fail   injection
		err    error
		blocks []string
		want   failureState // Since, Retry and Attempts are checked apart
	}{
		{
			name: "host-wide sysctl",
			fail: injection{"writeSysctl", "net/ipv4/ip_forward"}, err: syscall.EACCES,
			want: failureState{Kind: KindSysctl, Name: "net/ipv4/ip_forward", Err: "sysctl net/ipv4/ip_forward=1: permission denied"},
		},
		{
			name: "an endpoint's sysctl",
			fail: injection{"writeSysctl", "net/ipv4/conf/cali2/proxy_arp"}, err: syscall.EACCES,
			want: failureState{Kind: KindEndpoint, Name: "ns/b", Err: "sysctl net/ipv4/conf/cali2/proxy_arp=1: permission denied"},
		},
		{
			name:  "an endpoint's interface cannot be set up",
			setup: func(k *FakeKernel) { k.SetLinkDown("cali2") },
			fail:  injection{"setLinkUp", "cali2"}, err: syscall.EPERM,
			want: failureState{Kind: KindEndpoint, Name: "ns/b", Err: "set cali2 up: operation not permitted"},
		},
		{
			name: "an endpoint's neighbour entry",
			fail: injection{"setNeigh", "10.0.0.1"}, err: syscall.EINVAL,
			want: failureState{Kind: KindEndpoint, Name: "ns/a",
				Err: "neighbour 10.0.0.1 lladdr " + macA + " dev cali1: invalid argument"},
		},
		{
			name: "a blackhole route", blocks: []string{"10.65.0.0/26"},
			fail: injection{"addRoute", "10.65.0.0/26"}, err: syscall.ENOBUFS,
			want: failureState{Kind: KindBlackhole, Name: "10.65.0.0/26", Err: "route 10.65.0.0/26 blackhole: no buffer space available"},
		},
		{
			name:  "a stale route of the agent's that cannot be deleted",
			setup: func(k *FakeKernel) { k.AddRoute("10.0.0.99/32", "cali1", 80) },
			fail:  injection{"delRoute", "10.0.0.99/32"}, err: syscall.EBUSY,
			want: failureState{Kind: KindRoute, Name: "10.0.0.99/32 dev cali1",
				Err: "delete route 10.0.0.99/32 dev cali1: device or resource busy"},
		},
		{
			name:  "a stale neighbour entry of the agent's that cannot be deleted",
			setup: func(k *FakeKernel) { k.AddNeigh("10.0.0.98", "cali1", macA, true) },
			fail:  injection{"delNeigh", "10.0.0.98"}, err: syscall.EBUSY,
			want: failureState{Kind: KindNeighbour, Name: "10.0.0.98 dev cali1",
				Err: "delete neighbour 10.0.0.98 dev cali1: device or resource busy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			d, k := NewFake(nil, nil)
			defer d.Close()
			clock := &fakeClock{now: time.Unix(1000, 0)}
			clock.install(d)
			k.AddLink("cali1", true)
			k.AddLink("cali2", true)
			if tt.setup != nil {
				tt.setup(k)
			}
			delivered(t, d, k)
			k.Fail(tt.fail.op, tt.fail.object, tt.err)
			hs := withBlackholes(hostState(nil, endpoint("a", "cali1", macA, "10.0.0.1/32"), endpoint("b", "cali2", "", "10.0.0.2/32")),
				tt.blocks...)
			if err := d.Set(ctx, hs); err != nil {
				t.Fatalf("Set: %v", err)
			}
			want := tt.want
			want.Retry, want.Attempts = MinRetry, 1
			if diff := cmp.Diff([]failureState{want}, failureStates(d.Failures(), clock.now)); diff != "" {
				t.Fatalf("failures (-want +got):\n%s", diff)
			}
			// Everything else is programmed.
			routes := map[string]string{"ns/a": "route 10.0.0.1/32 dev cali1", "ns/b": "route 10.0.0.2/32 dev cali2"}
			for key, line := range routes {
				if tt.want.Kind == KindEndpoint && tt.want.Name == key {
					continue
				}
				if !strings.Contains(k.Dump(), line) {
					t.Errorf("%q not programmed:\n%s", line, k.Dump())
				}
			}

			// Its retry, once the kernel lets it, programs it.
			k.Fail(tt.fail.op, tt.fail.object, nil)
			delivered(t, d, k)
			in, ok := d.RetryIn()
			if !ok {
				t.Fatal("no retry scheduled")
			}
			clock.now = clock.now.Add(in)
			if err := d.Update(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got := d.Failures(); len(got) != 0 {
				t.Fatalf("failures after the retry: %v", got)
			}
			lines := flatten(hostFwd, configured("cali1", true), configured("cali2", true), []string{
				"route 10.0.0.1/32 dev cali1 proto 80 scope link",
				"neigh 10.0.0.1 dev cali1 lladdr " + macA + " permanent",
				"route 10.0.0.2/32 dev cali2 proto 80 scope link",
			})
			for _, b := range tt.blocks {
				lines = append(lines, "route "+b+" blackhole proto 80")
			}
			if diff := cmp.Diff(expectDump([]string{"cali1", "cali2"}, lines...), k.Dump()); diff != "" {
				t.Fatalf("kernel after the retry (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailuresDoNotSurviveTheirObject: a failed endpoint that is deleted,
// or whose interface goes, is no longer retried or reported.
func TestFailuresDoNotSurviveTheirObject(t *testing.T) {
	ctx := context.Background()
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("cali1", true)
	delivered(t, d, k)
	k.Fail("addRoute", "10.0.0.1/32", syscall.EIO)
	a := endpoint("a", "cali1", "", "10.0.0.1/32")
	if err := d.Set(ctx, hostState(nil, a)); err != nil {
		t.Fatal(err)
	}
	if len(d.Failures()) != 1 {
		t.Fatalf("failures: %v", d.Failures())
	}
	if err := d.Update(ctx, []calc.EndpointChange{{Key: a.Key}}); err != nil {
		t.Fatal(err)
	}
	if got := d.Failures(); len(got) != 0 {
		t.Fatalf("failures of a deleted endpoint: %v", got)
	}

	if err := d.Update(ctx, []calc.EndpointChange{{Key: a.Key, Endpoint: &a}}); err != nil {
		t.Fatal(err)
	}
	if len(d.Failures()) != 1 {
		t.Fatalf("failures: %v", d.Failures())
	}
	k.DelLink("cali1")
	delivered(t, d, k)
	if err := d.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := d.Failures(); len(got) != 0 {
		t.Fatalf("failures of an endpoint without interface: %v", got)
	}
	if got := statusOf(d, "ns/a"); got != StatusDown {
		t.Errorf("status %s, want down", got)
	}
}
