package bench

import (
	"context"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/bgp/birdctl"
	"github.com/gocalico/calico/internal/lab"
)

// BGP benchmarks (issue 4) on a 10-host lab in a node-to-node mesh, IPv4:
//
//   - BenchmarkBGPConvergence: a workload is plugged on host A (its veth
//     made, as a CNI plugin does) and its endpoint written; the time is
//     from just before the endpoint's etcd write to the route appearing in
//     host B's kernel (learned from BIRD, protocol bird), and a ping from
//     a workload on B then checks it is reachable. A and B change with
//     every sample.
//   - BenchmarkBGPMeshCold: every calico-node (and so its BIRD) is killed
//     and the hosts' BGP routes flushed, then all ten are started at once;
//     the time is until all 90 sessions are established, and until every
//     host has every other host's workload routes.
//
// make build; sudo go test -run '^$' -bench BGP -benchtime 1x -count 3 -timeout 30m ./bench/
const (
	bgpHosts   = 10
	bgpSamples = 100
)

const rtprotBIRD = 12

type bgpLab struct {
	*lab.Lab
	b   *testing.B
	ctx context.Context
}

func newBGPLab(b *testing.B) *bgpLab {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	b.Cleanup(cancel)
	l := upLab(b, ctx, lab.Config{Hosts: bgpHosts, WorkloadsPerHost: 1})
	return &bgpLab{Lab: l, b: b, ctx: ctx}
}

// established counts host's established BGP sessions.
func (l *bgpLab) established(host string) int {
	ctx, cancel := context.WithTimeout(l.ctx, 2*time.Second)
	defer cancel()
	c, err := birdctl.Dial(ctx, l.BIRDSocket(host))
	if err != nil {
		return 0
	}
	defer c.Close()
	ps, err := c.Protocols(ctx)
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range ps {
		if p.IsBGP() && p.Info == "Established" {
			n++
		}
	}
	return n
}

// bgpRoutes counts host's routes of protocol bird to workload addresses.
func (l *bgpLab) bgpRoutes(host string) int {
	h, err := l.Handle(host)
	if err != nil {
		l.b.Fatal(err)
	}
	defer h.Close()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: rtprotBIRD}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		l.b.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		if r.Dst != nil && r.Dst.IP[0] == 10 && r.Dst.IP[1] == 65 {
			n++
		}
	}
	return n
}

// waitAll polls cond for every host until all hold; it returns when.
func (l *bgpLab) waitAll(timeout time.Duration, what string, cond func(host string) bool) time.Time {
	deadline := time.Now().Add(timeout)
	done := map[string]bool{}
	for {
		for _, h := range l.Hosts() {
			if !done[h.Name] && cond(h.Name) {
				done[h.Name] = true
			}
		}
		if len(done) == len(l.Hosts()) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			l.b.Fatalf("%s: %d of %d hosts after %v", what, len(done), len(l.Hosts()), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkBGPMeshCold(b *testing.B) {
	for range b.N {
		l := newBGPLab(b)
		peers := bgpHosts - 1
		l.waitAll(2*time.Minute, "mesh established", func(h string) bool { return l.established(h) == peers })
		l.waitAll(2*time.Minute, "routes learned", func(h string) bool { return l.bgpRoutes(h) == peers })
		var est, routes []time.Duration
		for range 3 {
			// Cold: no calico-node, no BIRD, no learned routes.
			for _, h := range l.Hosts() {
				if err := l.StopNode(l.ctx, h.Name, syscall.SIGKILL); err != nil {
					b.Fatal(err)
				}
			}
			for _, h := range l.Hosts() {
				l.flushBGPRoutes(h.Name)
			}
			start := time.Now()
			var wg sync.WaitGroup
			for _, h := range l.Hosts() {
				wg.Go(func() {
					if err := l.StartNode(l.ctx, h.Name); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			e := l.waitAll(2*time.Minute, "mesh established", func(h string) bool { return l.established(h) == peers })
			r := l.waitAll(2*time.Minute, "routes learned", func(h string) bool { return l.bgpRoutes(h) == peers })
			est = append(est, e.Sub(start))
			routes = append(routes, r.Sub(start))
			b.Logf("cold start of %d hosts: all %d sessions established after %v, all routes after %v",
				bgpHosts, bgpHosts*peers, e.Sub(start).Round(time.Millisecond), r.Sub(start).Round(time.Millisecond))
		}
		b.ReportMetric(ms(percentile(est, 0.5)), "established-ms")
		b.ReportMetric(ms(percentile(routes, 0.5)), "routes-ms")
	}
}

func (l *bgpLab) flushBGPRoutes(host string) {
	h, err := l.Handle(host)
	if err != nil {
		l.b.Fatal(err)
	}
	defer h.Close()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: rtprotBIRD}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		l.b.Fatal(err)
	}
	for _, r := range rs {
		if err := h.RouteDel(&r); err != nil {
			l.b.Fatalf("%s: delete %s: %v", host, r.Dst, err)
		}
	}
}

func BenchmarkBGPConvergence(b *testing.B) {
	for range b.N {
		l := newBGPLab(b)
		peers := bgpHosts - 1
		l.waitAll(2*time.Minute, "mesh established", func(h string) bool { return l.established(h) == peers })
		l.waitAll(2*time.Minute, "routes learned", func(h string) bool { return l.bgpRoutes(h) == peers })

		// A route watcher in every host's namespace.
		watchers := map[string]*protoWatch{}
		for _, h := range l.Hosts() {
			ns, err := l.Namespace(h.Name)
			if err != nil {
				b.Fatal(err)
			}
			t, err := startNSThread(ns)
			if err != nil {
				b.Fatal(err)
			}
			w, err := watchProto(t, rtprotBIRD)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.close(); t.stop() })
			watchers[h.Name] = w
		}
		var total, write []time.Duration
		hosts := l.Hosts()
		for i := range bgpSamples {
			a := hosts[i%len(hosts)]
			bh := hosts[(i+1+i/len(hosts))%len(hosts)]
			if bh.Name == a.Name {
				bh = hosts[(i+2)%len(hosts)]
			}
			w, err := l.NewWorkload(a.Name, 2+i/len(hosts))
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Plug(l.ctx, w); err != nil {
				b.Fatal(err)
			}
			got := watchers[bh.Name].expect(w.IPv4)
			start := time.Now()
			if err := l.CreateEndpoint(l.ctx, w); err != nil {
				b.Fatal(err)
			}
			wrote := time.Since(start)
			select {
			case at := <-got:
				total = append(total, at.Sub(start))
				write = append(write, wrote)
			case <-time.After(30 * time.Second):
				b.Fatalf("sample %d: %s's route to %s (on %s) not there after 30s", i, bh.Name, w.IPv4, a.Name)
			}
			// Reachable: a ping from B's workload to the new one.
			from := lab.WorkloadName(bh.Index, 1)
			ok, err := l.Ping(l.ctx, from, w.IPv4, 2*time.Second)
			if err != nil || !ok {
				b.Fatalf("sample %d: %s does not reach %s (%v)", i, from, w.IPv4, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Logf("endpoint on A -> route in B's kernel, %d samples: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; the etcd write alone p50 %.2f ms p99 %.2f ms",
			len(total), ms(percentile(total, 0.5)), ms(percentile(total, 0.9)), ms(percentile(total, 0.99)), ms(percentile(total, 1)),
			ms(percentile(write, 0.5)), ms(percentile(write, 0.99)))
		b.ReportMetric(ms(percentile(total, 0.5)), "p50-ms")
		b.ReportMetric(ms(percentile(total, 0.99)), "p99-ms")
	}
}

// protoWatch reports when a route of one protocol to an address appears.
type protoWatch struct {
	stop, done chan struct{}
	mu         sync.Mutex
	waiting    map[netip.Addr]chan time.Time
}

func watchProto(t *nsThread, proto int) (*protoWatch, error) {
	w := &protoWatch{stop: make(chan struct{}), done: make(chan struct{}), waiting: map[netip.Addr]chan time.Time{}}
	ch := make(chan netlink.RouteUpdate, 1024)
	if err := t.do(func() error {
		return netlink.RouteSubscribeWithOptions(ch, w.stop, netlink.RouteSubscribeOptions{ReceiveBufferSize: 1 << 20})
	}); err != nil {
		return nil, err
	}
	go func() {
		defer close(w.done)
		for u := range ch {
			now := time.Now()
			if u.Type != unix.RTM_NEWROUTE || int(u.Protocol) != proto || u.Dst == nil {
				continue
			}
			ip, ok := netip.AddrFromSlice(u.Dst.IP)
			if !ok {
				continue
			}
			w.mu.Lock()
			if c, ok := w.waiting[ip.Unmap()]; ok {
				c <- now
				delete(w.waiting, ip.Unmap())
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *protoWatch) expect(ip netip.Addr) <-chan time.Time {
	c := make(chan time.Time, 1)
	w.mu.Lock()
	w.waiting[ip] = c
	w.mu.Unlock()
	return c
}

func (w *protoWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}
