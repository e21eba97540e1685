package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/ipam"
	"github.com/gocalico/calico/internal/lab"
	"github.com/gocalico/calico/internal/resources"
)

// Three hosts whose workloads the calico CNI plugin created, with
// addresses from Calico IPAM: every workload reaches every other; each
// host announces its blocks, not its workloads' addresses, so the other
// hosts' kernels hold one BGP route per block and no /32 route to a
// workload inside one; each host blackholes its own blocks. A workload
// whose address is borrowed from another host's block is announced as
// a /32 by its own host, and reached. CNI CHECK passes, DEL frees the
// address and the endpoint, GC frees what no container holds.
func TestPrivilegedCNIBlocksAndBorrowing(t *testing.T) {
	felix := e2eFelix()
	reporting := true
	felix.EndpointReportingEnabled = &reporting
	l := newLab(t, lab.Config{Hosts: 3, WorkloadsPerHost: 2, CNI: true, FelixConfiguration: felix})
	be, err := l.Backend(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	im := ipam.New(be, nil)
	for _, h := range l.Hosts() {
		l.waitEstablished(h.Name, l.meshPeers(h.Name))
	}
	l.waitMatrix()

	// Every workload's address comes from a block of its own host.
	hostBlocks := map[string][]netip.Prefix{}
	usage, err := im.Usage(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range usage {
		for _, b := range p.Blocks {
			hostBlocks[b.Host] = append(hostBlocks[b.Host], b.CIDR)
		}
	}
	for _, w := range l.Workloads() {
		if !w.CNI {
			t.Fatalf("%s was not created through CNI", w.Name)
		}
		for _, a := range w.Addrs() {
			if !slices.ContainsFunc(hostBlocks[w.Host], func(b netip.Prefix) bool { return b.Contains(a) }) {
				t.Errorf("%s has %s, in none of %s's blocks %v", w.Name, a, w.Host, hostBlocks[w.Host])
			}
		}
		if err := l.CheckWorkloadCNI(l.ctx, w); err != nil {
			t.Errorf("CNI CHECK of %s: %v", w.Name, err)
		}
	}

	// One route per block in the other hosts' kernels, none per workload.
	for _, h := range l.Hosts() {
		for owner, blocks := range hostBlocks {
			if owner == h.Name {
				continue
			}
			for _, b := range blocks {
				l.eventually(bgpConverge, fmt.Sprintf("%s has a BGP route to %s's block %s", h.Name, owner, b), func() (bool, string) {
					_, ok := l.bgpRouteTo(h.Name, b)
					return ok, "no such route"
				})
			}
		}
		for _, w := range l.Workloads() {
			if w.Host == h.Name {
				continue
			}
			for _, a := range w.Addrs() {
				if r, ok := l.bgpRoute(h.Name, a); ok {
					t.Errorf("%s has a /%d BGP route to %s (%s), inside %s's block: %v", h.Name, a.BitLen(), a, w.Name, w.Host, r)
				}
			}
		}
		for _, b := range hostBlocks[h.Name] {
			if !l.hasBlackhole(h.Name, b) {
				t.Errorf("%s has no blackhole route for its block %s", h.Name, b)
			}
		}
	}

	// Borrowing: a pool of one block; host1 takes it, host3 borrows.
	pool := v3.NewIPPool()
	pool.Metadata.Name = "one-block"
	pool.Spec.CIDR, pool.Spec.BlockSize = "10.66.0.0/26", 26
	c, err := l.Client(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(l.ctx, pool); err != nil {
		t.Fatal(err)
	}
	owner := l.addCNI("host1", 3, lab.WithIPv4Pools("10.66.0.0/26"))
	borrower := l.addCNI("host3", 3, lab.WithIPv4Pools("10.66.0.0/26"))
	block := netip.MustParsePrefix("10.66.0.0/26")
	if !block.Contains(owner.IPv4) || !block.Contains(borrower.IPv4) {
		t.Fatalf("owner %s, borrower %s: want both in %s", owner.IPv4, borrower.IPv4, block)
	}
	if info, err := im.Lookup(l.ctx, borrower.IPv4); err != nil || info.BlockHost != "host1" {
		t.Fatalf("the borrowed address %s: %+v, %v; want it in host1's block", borrower.IPv4, info, err)
	}
	for _, h := range []string{"host1", "host2"} {
		l.eventually(bgpConverge, fmt.Sprintf("%s has a /32 BGP route to the borrowed %s via host3", h, borrower.IPv4), func() (bool, string) {
			r, ok := l.bgpRoute(h, borrower.IPv4)
			if !ok {
				return false, "no /32 route"
			}
			h3, _ := l.Host("host3")
			if via := routeVia(r); via != h3.IPv4 {
				return false, fmt.Sprintf("route via %s, not host3 (%s)", via, h3.IPv4)
			}
			return true, ""
		})
	}
	l.eventually(bgpConverge, "host2 has host1's block 10.66.0.0/26", func() (bool, string) {
		_, ok := l.bgpRouteTo("host2", block)
		return ok, "no route"
	})
	l.waitReach("host2-w1", borrower.IPv4, owner.IPv4)
	l.waitReach("host1-w1", borrower.IPv4)
	l.waitReach(borrower.Name, owner.IPv4)

	// An ADD that waits for the agent returns once the endpoint's status
	// is up: by then its route is in the host's kernel.
	waited := l.addCNI("host2", 4, lab.WithWaitForEndpoint(20*time.Second))
	if _, ok := l.workloadRoute(waited, waited.IPv4); !ok {
		t.Errorf("%s: the ADD that waited for the agent returned before its route was programmed", waited.Name)
	}
	l.waitReach(waited.Name, owner.IPv4)

	// DEL frees the address and the endpoint; a second DEL is fine.
	if err := l.RemoveWorkloadCNI(l.ctx, borrower); err != nil {
		t.Fatal(err)
	}
	if info, _ := im.Lookup(l.ctx, borrower.IPv4); info.Allocated {
		t.Errorf("%s still allocated after CNI DEL", borrower.IPv4)
	}
	if _, err := c.Get(l.ctx, v3.KindWorkloadEndpoint, lab.WorkloadNamespace, borrower.Endpoint); err == nil {
		t.Errorf("%s's endpoint still there after CNI DEL", borrower.Name)
	}
	l.eventually(bgpConverge, "host2 withdraws the borrowed /32", func() (bool, string) {
		r, ok := l.bgpRoute("host2", borrower.IPv4)
		return !ok, fmt.Sprintf("still %v", r)
	})

	// GC on host1: owner is not among the valid attachments, so its
	// allocation goes; host1's other workloads stay.
	var keep []lab.Workload
	for _, w := range l.Workloads() {
		if w.Host == "host1" && w.Name != owner.Name {
			keep = append(keep, w)
		}
	}
	if err := l.GCCNI(l.ctx, "host1", keep); err != nil {
		t.Fatalf("CNI GC: %v", err)
	}
	if info, _ := im.Lookup(l.ctx, owner.IPv4); info.Allocated {
		t.Errorf("%s (not a valid attachment) still allocated after GC", owner.IPv4)
	}
	for _, w := range keep {
		if info, _ := im.Lookup(l.ctx, w.IPv4); !info.Allocated {
			t.Errorf("GC released %s of %s, a valid attachment", w.IPv4, w.Name)
		}
	}
	r, err := im.Check(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// owner's endpoint is still there (GC frees addresses only), so its
	// address-less endpoint is not a problem of IPAM; nothing leaked.
	if len(r.Leaked) != 0 || len(r.DanglingHandles) != 0 || len(r.StrayAffinities) != 0 || len(r.Unreadable) != 0 {
		t.Errorf("ipam check after the CNI runs: %+v", r)
	}
}

// addCNI adds workload index of host through the CNI plugin.
func (l *testLab) addCNI(host string, index int, opts ...lab.CNIOption) lab.Workload {
	l.t.Helper()
	w, err := l.NewWorkload(host, index)
	if err != nil {
		l.t.Fatal(err)
	}
	w, err = l.AddWorkloadCNI(l.ctx, w, opts...)
	if err != nil {
		l.t.Fatal(err)
	}
	return w
}

// hasBlackhole reports whether host's main table has a blackhole route
// for block.
func (l *testLab) hasBlackhole(host string, block netip.Prefix) bool {
	l.t.Helper()
	h, err := l.Handle(host)
	if err != nil {
		l.t.Fatal(err)
	}
	defer h.Close()
	fam := netlink.FAMILY_V4
	if block.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	rs, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Dst != nil && r.Dst.String() == block.String() && r.Type == unix.RTN_BLACKHOLE {
			return true
		}
	}
	return false
}

// routeVia is a route's gateway.
func routeVia(r netlink.Route) netip.Addr {
	if r.Gw != nil {
		a, _ := netip.AddrFromSlice(r.Gw)
		return a.Unmap()
	}
	for _, nh := range r.MultiPath {
		if nh.Gw != nil {
			a, _ := netip.AddrFromSlice(nh.Gw)
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// With no agent reporting endpoint status, an ADD that waits for it
// fails after its timeout with "try again later", and leaves nothing
// behind: no address, no endpoint.
func TestPrivilegedCNIWaitTimesOut(t *testing.T) {
	l := newLab(t, lab.Config{Hosts: 1, WorkloadsPerHost: 0, CNI: true, NoIPv6: true}) // endpoint reporting off
	w, err := l.NewWorkload("host1", 1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = l.AddWorkloadCNI(l.ctx, w, lab.WithWaitForEndpoint(time.Second))
	if err == nil || !strings.Contains(err.Error(), "did not report the endpoint programmed within 1s") {
		t.Fatalf("ADD: %v; want the wait's timeout", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("ADD failed after %v, before its 1s wait", d)
	}
	be, err := l.Backend(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ipam.New(be, nil).Check(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allocations != 0 {
		t.Errorf("the failed ADD left %d allocations", r.Allocations)
	}
	c, err := l.Client(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if weps, _, err := c.List(l.ctx, v3.KindWorkloadEndpoint, resources.ListOptions{}); err != nil || len(weps) != 0 {
		t.Errorf("the failed ADD left endpoints %v (%v)", weps, err)
	}
}
