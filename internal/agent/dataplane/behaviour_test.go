package dataplane

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/agent/calc"
)

// waitFor calls Set whenever the dataplane signals a change until cond
// holds. The deadline only keeps a broken test from hanging.
func waitFor(t *testing.T, d *Linux, hs *calc.HostState, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := d.Set(ctx, hs)
	for !cond() {
		select {
		case <-d.Changed():
		case <-ctx.Done():
			t.Fatalf("condition never held; last Set: %v; statuses %v", err, d.EndpointStatuses())
		}
		err = d.Set(ctx, hs)
	}
}

func statusOf(d *Linux, key string) string {
	for _, s := range d.EndpointStatuses() {
		if s.Key == key {
			return s.Status
		}
	}
	return ""
}

func TestInterfaceEventsDriveProgramming(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	hs := hostState(nil, endpoint("a", "cali1", macA, "10.0.0.1/32"))
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatal(err)
	}
	if got := statusOf(d, "ns/a"); got != StatusDown {
		t.Fatalf("before the interface: status %q", got)
	}
	want := expectDump(nil, hostFwd...)
	if diff := cmp.Diff(want, k.Dump()); diff != "" {
		t.Fatalf("before the interface (-want +got):\n%s", diff)
	}

	programmed := expectDump([]string{"cali1"}, flatten(hostFwd, configured("cali1", true), []string{
		"route 10.0.0.1/32 dev cali1 proto 80 scope link",
		"neigh 10.0.0.1 dev cali1 lladdr " + macA + " permanent",
	})...)
	// No Resync anywhere below: only link events tell the dataplane.
	k.AddLink("cali1", false) // appears down, as a fresh veth does
	waitFor(t, d, hs, func() bool { return statusOf(d, "ns/a") == StatusUp })
	if diff := cmp.Diff(programmed, k.Dump()); diff != "" {
		t.Fatalf("interface appeared (-want +got):\n%s", diff)
	}

	k.DelLink("cali1")
	waitFor(t, d, hs, func() bool { return statusOf(d, "ns/a") == StatusDown })
	if diff := cmp.Diff(want, k.Dump()); diff != "" {
		t.Fatalf("interface gone (-want +got):\n%s", diff)
	}

	k.AddLink("cali1", true) // comes back with a new index
	waitFor(t, d, hs, func() bool { return statusOf(d, "ns/a") == StatusUp })
	if diff := cmp.Diff(programmed, k.Dump()); diff != "" {
		t.Fatalf("interface back (-want +got):\n%s", diff)
	}

	k.SetLinkDown("cali1") // flushes its routes; the agent sets it up again
	waitFor(t, d, hs, func() bool { return k.Dump() == programmed && statusOf(d, "ns/a") == StatusUp })

	k.SetCarrier("cali1", false)
	waitFor(t, d, hs, func() bool { return statusOf(d, "ns/a") == StatusDown })
	k.SetCarrier("cali1", true)
	waitFor(t, d, hs, func() bool { return statusOf(d, "ns/a") == StatusUp })
}

func TestLostEventsLeadToAFullResync(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("cali1", true)
	hs := hostState(nil, endpoint("a", "cali1", "", "10.0.0.1/32"))
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatal(err)
	}
	k.DelRoute("10.0.0.1/32") // nobody tells the agent
	k.LoseEvents()            // the subscription breaks: events may be lost
	want := expectDump([]string{"cali1"}, flatten(hostFwd, configured("cali1", true), []string{"route 10.0.0.1/32 dev cali1 proto 80 scope link"})...)
	waitFor(t, d, hs, func() bool { return k.Dump() == want })
}

func TestEndpointDeletedInterfaceKept(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("cali1", true)
	if err := d.Set(t.Context(), hostState(nil, endpoint("a", "cali1", macA, "10.0.0.1/32", "fd00::1/128"))); err != nil {
		t.Fatal(err)
	}
	if err := d.Set(t.Context(), hostState(nil)); err != nil {
		t.Fatal(err)
	}
	// Routes and neighbours go; the interface and its settings stay.
	want := expectDump([]string{"cali1"}, flatten(hostFwd, configured("cali1", true))...)
	if diff := cmp.Diff(want, k.Dump()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestRestartAppliesOnlyTheDifference(t *testing.T) {
	k := NewFakeKernel()
	k.AddLink("cali1", true)
	k.AddLink("cali2", true)
	a := endpoint("a", "cali1", macA, "10.0.0.1/32", "fd00::1/128")
	b := endpoint("b", "cali2", "", "10.0.0.2/32")
	d1 := newLinux(k, nil, nil)
	if err := d1.Set(t.Context(), hostState(nil, a, b)); err != nil {
		t.Fatal(err)
	}
	d1.Close()

	// A new agent over the same kernel, nothing changed: no writes.
	d2 := newLinux(k, nil, nil)
	defer d2.Close()
	before := k.Writes()
	if err := d2.Set(t.Context(), hostState(nil, a, b)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, k.Writes()); diff != "" {
		t.Fatalf("restart wrote (-before +after):\n%s", diff)
	}
	if got := d2.Programmed(); got != 2 {
		t.Errorf("Programmed = %d", got)
	}

	// One address changed while it was down: exactly that is written.
	b2 := endpoint("b", "cali2", "", "10.0.0.3/32")
	d3 := newLinux(k, nil, nil)
	defer d3.Close()
	if err := d3.Set(t.Context(), hostState(nil, a, b2)); err != nil {
		t.Fatal(err)
	}
	after := k.Writes()
	delta := map[string]int{}
	for op, n := range after {
		if n != before[op] {
			delta[op] = n - before[op]
		}
	}
	if diff := cmp.Diff(map[string]int{"addRoute": 1, "delRoute": 1}, delta); diff != "" {
		t.Fatalf("writes after a change (-want +got):\n%s", diff)
	}
}

func TestFailuresAreRecordedAndRetried(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("cali1", true)
	k.AddLink("cali2", true)
	hs := hostState(nil, endpoint("a", "cali1", "", "10.0.0.1/32"), endpoint("b", "cali2", "", "10.0.0.2/32"))
	k.FailNext("addRoute", syscall.EIO)
	k.FailNext("delNeigh", syscall.EIO)
	k.AddNeigh("10.0.0.7", "cali2", macA, true) // stale, to be deleted
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatalf("Set failed as a whole for the failure of two objects: %v", err)
	}
	got := failureLines(d.Failures())
	want := []string{
		"endpoint ns/a: route 10.0.0.1/32 dev cali1: input/output error",
		"neighbour 10.0.0.7 dev cali2: delete neighbour 10.0.0.7 dev cali2: input/output error",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	// The other endpoint was programmed despite the failure.
	if got := statusOf(d, "ns/a"); got != StatusError {
		t.Errorf("a: %s", got)
	}
	if got := statusOf(d, "ns/b"); got != StatusUp {
		t.Errorf("b: %s", got)
	}
	if !strings.Contains(k.Dump(), "route 10.0.0.2/32 dev cali2") {
		t.Errorf("b not programmed:\n%s", k.Dump())
	}
	// Retrying converges.
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := d.Failures(); len(got) != 0 {
		t.Errorf("failures after the retry: %v", got)
	}
	if got := statusOf(d, "ns/a"); got != StatusUp {
		t.Errorf("a after retry: %s", got)
	}
	want2 := expectDump([]string{"cali1", "cali2"}, flatten(hostFwd, configured("cali1", true), configured("cali2", true), []string{
		"route 10.0.0.1/32 dev cali1 proto 80 scope link",
		"route 10.0.0.2/32 dev cali2 proto 80 scope link",
	})...)
	if diff := cmp.Diff(want2, k.Dump()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// failureLines renders failures one line each, errors on one line.
func failureLines(fs []Failure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, strings.ReplaceAll(f.String(), "\n", "; "))
	}
	return out
}

// TestARouteThroughTheEndpointsInterfaceIsAdopted: a route to the
// endpoint through its own interface that the agent did not write (a
// CNI plugin's, of another protocol) is taken over, not refused.
func TestARouteThroughTheEndpointsInterfaceIsAdopted(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("eth0", true)
	k.AddLink("cali1", true)
	k.AddRoute("10.0.0.1/32", "cali1", 3) // the CNI plugin's, proto boot
	hs := hostState(nil, endpoint("a", "cali1", "", "10.0.0.1/32"))
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := statusOf(d, "ns/a"); got != StatusUp {
		t.Errorf("status %s", got)
	}
	want := expectDump([]string{"eth0", "cali1"}, flatten(hostFwd, configured("cali1", true), []string{
		"route 10.0.0.1/32 dev cali1 proto 80 scope link",
	})...)
	if diff := cmp.Diff(want, k.Dump()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestAForeignRouteIsNeverReplaced(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("eth0", true)
	k.AddLink("cali1", true)
	k.AddRoute("10.0.0.1/32", "eth0", 4) // e.g. an operator's static route
	hs := hostState(nil, endpoint("a", "cali1", "", "10.0.0.1/32", "10.0.0.2/32"))
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatalf("Set: %v", err)
	}
	want0 := []string{"endpoint ns/a: route 10.0.0.1/32 dev cali1: another route to 10.0.0.1/32 exists that the agent does not own; not replacing it"}
	if diff := cmp.Diff(want0, failureLines(d.Failures())); diff != "" {
		t.Fatalf("failures (-want +got):\n%s", diff)
	}
	if got := statusOf(d, "ns/a"); got != StatusError {
		t.Errorf("status %s", got)
	}
	want := expectDump([]string{"eth0", "cali1"}, flatten(hostFwd, configured("cali1", true), []string{
		"route 10.0.0.1/32 dev eth0 proto 4 scope link",
		"route 10.0.0.2/32 dev cali1 proto 80 scope link",
	})...)
	if diff := cmp.Diff(want, k.Dump()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// Once the operator removes it, the retry programs the endpoint.
	k.DelRoute("10.0.0.1/32")
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatal(err)
	}
	if got := statusOf(d, "ns/a"); got != StatusUp {
		t.Errorf("status %s", got)
	}
	if got := d.Failures(); len(got) != 0 {
		t.Errorf("failures: %v", got)
	}
}

func TestStaleRecordRecoversFromOwnRoute(t *testing.T) {
	// The record says nothing about a route of ours that exists (as
	// after a late "interface down" event): the add fails with EEXIST,
	// the dataplane re-reads its routes and carries on without error.
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("cali1", true)
	hs := hostState(nil, endpoint("a", "cali1", "", "10.0.0.1/32"))
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatal(err)
	}
	d.rec.routes = map[routeKey]route{}
	if err := d.Set(t.Context(), hs); err != nil {
		t.Fatalf("Set with a stale record: %v", err)
	}
}

func TestSysctlPathsStayUnderProcSys(t *testing.T) {
	for _, p := range []string{"", "/etc/passwd", "net/../../etc/passwd", "net/ipv4/conf/../x", "net//x", "net/./x"} {
		if _, err := sysctlFile(p); err == nil {
			t.Errorf("sysctlFile(%q) accepted", p)
		}
	}
	if f, err := sysctlFile("net/ipv4/conf/cali.1/proxy_arp"); err != nil || f != "/proc/sys/net/ipv4/conf/cali.1/proxy_arp" {
		t.Errorf("sysctlFile: %q, %v", f, err)
	}
}

func TestEndpointStatusIdentity(t *testing.T) {
	d, k := NewFake(nil, nil)
	defer d.Close()
	k.AddLink("cali1", true)
	if err := d.Set(t.Context(), hostState(nil, endpoint("web-0", "cali1", "", "10.0.0.1/32"))); err != nil {
		t.Fatal(err)
	}
	want := []EndpointStatus{{Key: "ns/web-0", Orchestrator: "k8s", Workload: "ns/web-0", Endpoint: "eth0", Status: StatusUp}}
	if diff := cmp.Diff(want, d.EndpointStatuses()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
