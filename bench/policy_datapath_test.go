package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/lab"
)

// BenchmarkPolicyDatapath: two hosts (BGP mesh), one workload each;
// 64-byte UDP packets per second (one sender, payload 64 bytes, one
// 5-tuple: never established, so every packet is evaluated) and TCP
// throughput (one connection) from host1's workload to host2's:
//
//   - none: before any policy (the workloads' profile allows);
//   - policy: 10k GlobalNetworkPolicies and 100k remote endpoints in
//     the datastore; the two workloads are selected by 10 of them (no
//     rule matches the traffic) and then by one allowing ingress from
//     role == 'client', an IP set of 100k addresses (gaps between them,
//     so they do not merge into ranges);
//   - unselected: the same, but the workloads' labels removed, so only
//     their profile applies (alternated with policy).
func BenchmarkPolicyDatapath(b *testing.B) {
	const (
		remote   = 100_000
		policies = 10_000
		groups   = policies / policiesPerEndpoint
		rounds   = 3
		dur      = 3 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	l := upLab(b, ctx, lab.Config{Hosts: 2, WorkloadsPerHost: 1, BGP: lab.BGPMesh})
	be, err := l.Backend(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var src, dst lab.Workload
	for _, w := range l.Workloads() {
		if w.Host == lab.HostName(1) {
			src = w
		} else {
			dst = w
		}
	}
	d := &datapath{b: b, l: l, src: src, dst: dst}
	d.start()
	defer d.stop()
	if err := d.waitFlowing(2 * time.Minute); err != nil {
		b.Fatal(err)
	}

	type result struct{ pps, gbps []float64 }
	res := map[string]*result{"none": {}, "policy": {}, "unselected": {}}
	run := func(kind string) {
		pps := d.udpRate(dur)
		gbps := d.tcpRate(dur)
		r := res[kind]
		r.pps, r.gbps = append(r.pps, pps), append(r.gbps, gbps)
		b.Logf("%s: UDP %.0f packets/s, TCP %.2f Gbit/s", kind, pps, gbps)
	}
	for range rounds {
		run("none")
	}

	start := time.Now()
	loadKVs(b, be, remote, func(i int) (string, []byte) { return remoteWEP(i, -1, 2) })
	loadKVs(b, be, policies, func(i int) (string, []byte) { return gnpJSON(b, i, groups, policyPort(i)) })
	allow := v3.NewGlobalNetworkPolicy()
	allow.Metadata.Name = "allow-clients"
	order := float64(1e6)
	allow.Spec.Order = &order
	allow.Spec.Selector = "grp == 'g0'"
	allow.Spec.Types = []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}
	allow.Spec.Ingress = []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: "role == 'client'"}}}
	allow.Spec.Egress = []v3.Rule{{Action: v3.Allow}}
	if k, v := stored(b, allow); true {
		if _, err := be.Update(ctx, k, v, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("wrote %d remote endpoints and %d policies in %v", remote, policies+1, time.Since(start).Round(time.Millisecond))

	selected := map[string]string{"grp": "g0", "role": "client", "app": "app-0"}
	for i := range rounds {
		for _, kind := range []string{"policy", "unselected"} {
			if i%2 == 1 { // alternate which goes first
				kind = map[string]string{"policy": "unselected", "unselected": "policy"}[kind]
			}
			var labels map[string]string
			if kind == "policy" {
				labels = selected
			}
			t0 := time.Now()
			d.label(ctx, be, labels)
			if err := d.waitPolicies(kind == "policy", 10*time.Minute); err != nil {
				b.Fatal(err)
			}
			if err := d.waitFlowing(time.Minute); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: programmed on both hosts in %v", kind, time.Since(t0).Round(time.Millisecond))
			run(kind)
		}
	}
	for _, h := range []string{lab.HostName(1), lab.HostName(2)} {
		c, err := nftConn(filepath.Join("/run/netns", must(l.Namespace(h))))
		if err != nil {
			b.Fatal(err)
		}
		tc, _, err := readTable(c)
		c.CloseLasting()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: table inet calico: %s", h, tc)
	}
	none, pol, unsel := res["none"], res["policy"], res["unselected"]
	b.ReportMetric(median(none.pps), "none-udp-pps")
	b.ReportMetric(median(pol.pps), "policy-udp-pps")
	b.ReportMetric(median(unsel.pps), "unselected-udp-pps")
	b.ReportMetric(median(none.gbps), "none-tcp-Gbps")
	b.ReportMetric(median(pol.gbps), "policy-tcp-Gbps")
	b.ReportMetric(median(pol.pps)/median(none.pps), "udp-ratio")
	b.ReportMetric(median(pol.gbps)/median(none.gbps), "tcp-ratio")
	b.ReportMetric(median(pol.pps)/median(unsel.pps), "udp-ratio-alternated")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// datapath runs a UDP and a TCP server in the destination workload and
// sends from the source workload; sockets are made inside the workloads'
// namespaces and used from this process.
type datapath struct {
	b        *testing.B
	l        *lab.Lab
	src, dst lab.Workload

	udpSrv net.PacketConn
	tcpSrv net.Listener
	mu     sync.Mutex
	udpN   int64
	tcpN   int64
	wg     sync.WaitGroup
}

const (
	dpUDPPort = 5201
	dpTCPPort = 5202
)

func (d *datapath) inNS(target string, f func() error) error {
	return d.l.Run(target, f)
}

func (d *datapath) start() {
	err := d.inNS(d.dst.Name, func() (err error) {
		if d.udpSrv, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", dpUDPPort)); err != nil {
			return err
		}
		_ = d.udpSrv.(*net.UDPConn).SetReadBuffer(4 << 20)
		d.tcpSrv, err = net.Listen("tcp4", fmt.Sprintf(":%d", dpTCPPort))
		return err
	})
	if err != nil {
		d.b.Fatal(err)
	}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		buf := make([]byte, 2048)
		for {
			if _, _, err := d.udpSrv.ReadFrom(buf); err != nil {
				return
			}
			d.mu.Lock()
			d.udpN++
			d.mu.Unlock()
		}
	}()
	go func() {
		defer d.wg.Done()
		for {
			c, err := d.tcpSrv.Accept()
			if err != nil {
				return
			}
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					n, err := c.Read(buf)
					d.mu.Lock()
					d.tcpN += int64(n)
					d.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
}

func (d *datapath) stop() {
	d.udpSrv.Close()
	d.tcpSrv.Close()
	d.wg.Wait()
}

func (d *datapath) counts() (udp, tcp int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.udpN, d.tcpN
}

// udpRate sends 64-byte datagrams for dur and returns how many arrived
// per second.
func (d *datapath) udpRate(dur time.Duration) float64 {
	var c net.Conn
	if err := d.inNS(d.src.Name, func() (err error) {
		c, err = net.Dial("udp4", netip.AddrPortFrom(d.dst.IPv4, dpUDPPort).String())
		return err
	}); err != nil {
		d.b.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 64)
	u0, _ := d.counts()
	t0 := time.Now()
	for time.Since(t0) < dur {
		for range 256 {
			_, _ = c.Write(payload) // ENOBUFS/ECONNREFUSED: the packet is lost
		}
	}
	el := time.Since(t0)
	time.Sleep(100 * time.Millisecond) // what is in flight
	u1, _ := d.counts()
	return float64(u1-u0) / el.Seconds()
}

// tcpRate sends over one TCP connection for dur and returns Gbit/s
// received.
func (d *datapath) tcpRate(dur time.Duration) float64 {
	var c net.Conn
	if err := d.inNS(d.src.Name, func() (err error) {
		c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(d.dst.IPv4, dpTCPPort).String(), 5*time.Second)
		return err
	}); err != nil {
		d.b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 128<<10)
	_, t0n := d.counts()
	t0 := time.Now()
	_ = c.SetWriteDeadline(t0.Add(dur))
	for {
		if _, err := c.Write(buf); err != nil {
			break
		}
	}
	el := time.Since(t0)
	_, t1n := d.counts()
	return float64(t1n-t0n) * 8 / el.Seconds() / 1e9
}

// waitFlowing waits until UDP datagrams arrive.
func (d *datapath) waitFlowing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if d.udpRate(100*time.Millisecond) > 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no UDP from %s to %s after %v", d.src.Name, d.dst.Name, timeout)
}

// label rewrites both workloads' endpoints with labels.
func (d *datapath) label(ctx context.Context, be datastore.Backend, labels map[string]string) {
	for _, w := range []lab.Workload{d.src, d.dst} {
		k, v := labelledEndpoint(d.b, w, labels)
		if _, err := be.Update(ctx, k, v, 0, 0); err != nil {
			d.b.Fatal(err)
		}
	}
}

// waitPolicies waits until the source's fw- chain (host1) and the
// destination's tw- chain (host2), through the tier walks they go to,
// jump to policy chains (selected) or to none.
func (d *datapath) waitPolicies(selected bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	// jumps counts the chain's jumps to policy chains (pi-, po-) and
	// finds where it goes to at its end (an endpoint chain goes to its
	// shared tier walk).
	jumps := func(c *nftables.Conn, chain string) (n int, gotoChain string, err error) {
		rules, err := c.GetRules(&nftables.Table{Name: calicoTable, Family: nftables.TableFamilyINet}, &nftables.Chain{Name: chain})
		if err != nil {
			return 0, "", err
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				v, ok := e.(*expr.Verdict)
				switch {
				case !ok:
				case v.Kind == expr.VerdictJump && (strings.HasPrefix(v.Chain, "pi-") || strings.HasPrefix(v.Chain, "po-")):
					n++
				case v.Kind == expr.VerdictGoto:
					gotoChain = v.Chain
				}
			}
		}
		return n, gotoChain, nil
	}
	check := func(w lab.Workload, chain string) (bool, error) {
		c, err := nftConn(filepath.Join("/run/netns", must(d.l.Namespace(w.Host))))
		if err != nil {
			return false, err
		}
		defer c.CloseLasting()
		n, walk, err := jumps(c, chain)
		if err != nil {
			return false, nil // not there yet
		}
		if walk != "" {
			m, _, err := jumps(c, walk)
			if err != nil {
				return false, nil
			}
			n += m
		}
		want := 0
		if selected {
			want = policiesPerEndpoint + 1
		}
		return n == want, nil
	}
	for {
		a, err := check(d.src, "fw-"+d.src.Interface)
		if err != nil {
			return err
		}
		z, err := check(d.dst, "tw-"+d.dst.Interface)
		if err != nil {
			return err
		}
		if a && z {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("policies (selected %v) not programmed after %v (src ok %v, dst ok %v)", selected, timeout, a, z)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
