package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/lab"
	"github.com/gocalico/calico/internal/nsthread"
	"github.com/gocalico/calico/internal/resources"
)

// The policy benchmarks' datastore: remote endpoints carry a group label
// (grp: g<k>) and an app label (app: app-<i mod 100>); policy i selects
// grp == 'g<i mod groups>', with groups = policies/10, so that every
// endpoint is selected by about 10 policies. Every policy has rules with
// selectors (IP sets), ports and nets in both directions.
const (
	policiesPerEndpoint = 10
	policyApps          = 100
	policySamples       = 100
	// policyEventWait is how long one sample may take.
	policyEventWait = 30 * time.Second
	calicoTable     = "calico"
)

// policyScale is one size of the programming benchmark.
type policyScale struct {
	name     string
	local    int
	remote   int
	policies int
	// big: only run with CALICO_BENCH_POLICY_BIG=1 (slow).
	big bool
}

func (s policyScale) groups() int { return max(1, s.policies/policiesPerEndpoint) }

// BenchmarkPolicyProgramming: one host running calico-node with 250
// local workloads, 10k endpoints of other nodes and 1,000
// GlobalNetworkPolicies in the datastore (every endpoint selected by
// about 10 of them; their rules use selectors, ports and nets). Measured
// in the host's namespace from nftables netlink (a multicast
// subscription to NFNLGRP_NFTABLES opened there: each transaction is
// stamped when its NEWGEN message is read):
//
//   - cold: calico-node is stopped, its table deleted (as after a
//     reboot), and started again; timed until table inet calico is in the
//     kernel with the expected number of chains, sets and verdict-map
//     elements (polled every 5 ms), and until /readiness answers 200.
//     peak-RSS-MB is calico-node's VmHWM a second later;
//   - newep: a local WorkloadEndpoint (its interface exists) is deleted
//     and written again; timed from the write until the transaction
//     holding its fw-/tw- chains and both verdict-map elements;
//   - edit: one policy's ingress port is changed; timed until the rule
//     with the new port is in pi-g-<name>;
//   - label: a remote endpoint's app label changes so that it moves into
//     another selector's IP set; timed until its address is added to a set.
//
// The 10k policies / 100k endpoints size runs only with
// CALICO_BENCH_POLICY_BIG=1.
func BenchmarkPolicyProgramming(b *testing.B) {
	for _, s := range []policyScale{
		{name: "1k-policies-10k-endpoints", local: 250, remote: 10_000, policies: 1_000},
		{name: "10k-policies-100k-endpoints", local: 250, remote: 100_000, policies: 10_000, big: true},
	} {
		b.Run(s.name, func(b *testing.B) {
			if s.big && os.Getenv("CALICO_BENCH_POLICY_BIG") == "" {
				b.Skip("slow: set CALICO_BENCH_POLICY_BIG=1 to run it")
			}
			p := newPolicyLab(b, s)
			for range b.N {
				p.measureColdStart()
				p.measureNewEndpoint()
				p.measurePolicyEdit()
				p.measureLabelMove()
			}
		})
	}
}

// policyLab is an agentLab with policies, watched over nftables netlink.
type policyLab struct {
	*agentLab
	scale  policyScale
	nsPath string
	nft    *nftWatch
	// want is what a fully programmed table holds (read once the agent
	// first reported ready).
	want tableCounts
}

// newPolicyLab brings up the one-host lab (as newAgentLab, without its
// remote endpoints) and writes the scale's labelled endpoints and
// policies, then restarts calico-node so that its start is a start with
// all of it.
func newPolicyLab(b *testing.B, s policyScale) *policyLab {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	b.Cleanup(cancel)
	l := upLab(b, ctx, lab.Config{Hosts: 1, WorkloadsPerHost: s.local, BGP: lab.BGPNone})
	a := &agentLab{Lab: l, b: b, ctx: ctx, host: lab.HostName(1)}
	p := &policyLab{agentLab: a, scale: s}
	b.Cleanup(func() {
		if p.nft != nil {
			p.nft.close()
		}
		if a.routes != nil {
			a.routes.close()
		}
		if a.ns != nil {
			a.ns.stop()
		}
	})
	var err error
	if a.be, err = l.Backend(ctx); err != nil {
		b.Fatal(err)
	}
	nsName, err := l.Namespace(a.host)
	if err != nil {
		b.Fatal(err)
	}
	p.nsPath = filepath.Join("/run/netns", nsName)
	if a.ns, err = startNSThread(nsName); err != nil {
		b.Fatal(err)
	}
	if a.routes, err = watchRoutes(a.ns); err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	loadKVs(b, a.be, s.remote, func(i int) (string, []byte) { return remoteWEP(i, -1, 1) })
	for j, w := range a.localWorkloads() {
		k, v := labelledEndpoint(b, w, localLabels(j))
		if _, err := a.be.Update(ctx, k, v, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	loadKVs(b, a.be, s.policies, func(i int) (string, []byte) { return gnpJSON(b, i, s.groups(), policyPort(i)) })
	b.Logf("loaded %d remote endpoints, labelled %d local ones and wrote %d GlobalNetworkPolicies in %v",
		s.remote, s.local, s.policies, time.Since(start).Round(time.Millisecond))

	a.restartNode(nil)
	a.waitProgrammed(10 * time.Minute)
	p.want = p.waitTable(nil, 10*time.Minute)
	b.Logf("table inet calico: %s", p.want)
	if min := 2 + 2*s.local; p.want.chains < min || p.want.fromWL != s.local || p.want.toWL != s.local {
		b.Fatalf("table inet calico has %s; want at least %d chains and %d endpoints in each verdict map", p.want, min, s.local)
	}
	return p
}

func (a *agentLab) localWorkloads() []lab.Workload {
	var ws []lab.Workload
	for _, w := range a.Workloads() {
		if w.Host == a.host {
			ws = append(ws, w)
		}
	}
	return ws
}

func localLabels(j int) map[string]string {
	return map[string]string{"grp": fmt.Sprintf("g%d", j%policyApps), "app": fmt.Sprintf("app-%d", j%policyApps), "tier": "frontend"}
}

// policyPort is policy i's first ingress rule's port before any edit.
func policyPort(i int) uint16 { return uint16(1000 + i%1000) }

// measureColdStart restarts calico-node with its table deleted.
func (p *policyLab) measureColdStart() {
	b := p.b
	const rounds = 3
	var programmed, ready, cpu, peak []float64
	for range rounds {
		if p.nft != nil {
			// A cold start is one big transaction: its events would
			// overflow the subscription (and cost this process CPU).
			p.nft.close()
			p.nft = nil
		}
		t0 := p.restartNode(func() {
			if err := p.deleteTable(); err != nil {
				b.Fatal(err)
			}
		})
		var tReady time.Time
		got := p.waitTable(func() {
			if tReady.IsZero() && p.ready() {
				tReady = time.Now()
			}
		}, 10*time.Minute)
		t1 := time.Now()
		if tReady.IsZero() {
			tReady = p.waitReady(10 * time.Minute)
		}
		u := p.usage()
		programmed = append(programmed, got.at.Sub(t0).Seconds())
		ready = append(ready, tReady.Sub(t0).Seconds())
		cpu = append(cpu, u.CPU.Seconds())
		time.Sleep(time.Second)
		u = p.usage()
		peak = append(peak, u.PeakMB)
		b.Logf("cold start: table complete (%s) after %.3fs (seen by a poll that ended %.3fs later), ready after %.3fs, CPU %.2fs, RSS %.1f MB, peak %.1f MB",
			got, last(programmed), t1.Sub(got.at).Seconds(), last(ready), last(cpu), u.RSSMB, u.PeakMB)
	}
	b.ReportMetric(median(programmed), "cold-start-s")
	b.ReportMetric(slices.Max(programmed), "cold-start-max-s")
	b.ReportMetric(median(ready), "cold-ready-s")
	b.ReportMetric(median(cpu), "cold-cpu-s")
	b.ReportMetric(median(peak), "peak-RSS-MB")
	p.watch()
}

// watch (re)opens the nftables event subscription.
func (p *policyLab) watch() {
	if p.nft != nil {
		return
	}
	var err error
	if p.nft, err = watchNFT(p.nsPath); err != nil {
		p.b.Fatal(err)
	}
}

// measureNewEndpoint deletes and rewrites local endpoints.
func (p *policyLab) measureNewEndpoint() {
	b := p.b
	p.watch()
	ws := p.localWorkloads()
	var total, route, del []time.Duration
	before := p.usage()
	for i := range policySamples {
		j := (i * 7) % len(ws)
		w := ws[j]
		key, val := labelledEndpoint(b, w, localLabels(j))
		fw, tw := "fw-"+w.Interface, "tw-"+w.Interface
		gone := p.nft.expect(chainEvent(nftables.MonitorEventTypeDelChain, fw), chainEvent(nftables.MonitorEventTypeDelChain, tw))
		t0 := time.Now()
		if _, err := p.be.Delete(p.ctx, key, 0); err != nil {
			b.Fatal(err)
		}
		t1, err := p.nft.wait(gone, policyEventWait)
		if err != nil {
			b.Fatalf("%s: chains not deleted: %v", w.Name, err)
		}
		del = append(del, t1.Sub(t0))
		time.Sleep(plugSettle)

		name := ifnameKey(w.Interface)
		added := p.nft.expect(chainEvent(nftables.MonitorEventTypeNewChain, fw), chainEvent(nftables.MonitorEventTypeNewChain, tw),
			elemEvent(name), elemEvent(name))
		routed := p.routes.expect(true, w.IPv4)
		t0 = time.Now()
		if _, err := p.be.Create(p.ctx, key, val, 0); err != nil {
			b.Fatal(err)
		}
		t1, err = p.nft.wait(added, policyEventWait)
		if err != nil {
			b.Fatalf("%s: not enforced: %v", w.Name, err)
		}
		tr, err := p.routes.wait(routed, policyEventWait)
		if err != nil {
			b.Fatalf("%s: no route: %v", w.Name, err)
		}
		total, route = append(total, t1.Sub(t0)), append(route, tr.Sub(t0))
		time.Sleep(plugSettle)
	}
	after := p.usage()
	b.ReportMetric(ms(percentile(total, 0.50)), "newep-p50-ms")
	b.ReportMetric(ms(percentile(total, 0.99)), "newep-p99-ms")
	b.ReportMetric(ms(percentile(route, 0.50)), "newep-route-p50-ms")
	b.ReportMetric(ms(percentile(del, 0.50)), "delep-p50-ms")
	b.Logf("new endpoint enforced: p50 %.1f p90 %.1f p99 %.1f max %.1f ms; its route p50 %.1f p99 %.1f ms; delete -> chains gone p50 %.1f p99 %.1f ms; agent CPU %.1f ms per cycle",
		ms(percentile(total, 0.5)), ms(percentile(total, 0.9)), ms(percentile(total, 0.99)), ms(percentile(total, 1)),
		ms(percentile(route, 0.5)), ms(percentile(route, 0.99)), ms(percentile(del, 0.5)), ms(percentile(del, 0.99)),
		ms((after.CPU-before.CPU)/policySamples))
}

// measurePolicyEdit changes one policy's port per sample.
func (p *policyLab) measurePolicyEdit() {
	b := p.b
	p.watch()
	var total []time.Duration
	before := p.usage()
	for i := range policySamples {
		pol := (i * 37) % p.scale.policies
		port := uint16(20000 + i)
		key, val := gnpKV(b, pol, p.scale.groups(), port)
		// A GlobalNetworkPolicy of the default tier is stored as
		// default.<name>; its ingress chain is pi-g-<stored name>.
		chain := "pi-g-default." + gnpName(pol)
		ch := p.nft.expect(ruleWithPort(chain, port))
		t0 := time.Now()
		if _, err := p.be.Update(p.ctx, key, val, 0, 0); err != nil {
			b.Fatal(err)
		}
		t1, err := p.nft.wait(ch, policyEventWait)
		if err != nil {
			b.Fatalf("policy %s port %d: %v", gnpName(pol), port, err)
		}
		total = append(total, t1.Sub(t0))
		time.Sleep(settle)
	}
	after := p.usage()
	b.ReportMetric(ms(percentile(total, 0.50)), "edit-p50-ms")
	b.ReportMetric(ms(percentile(total, 0.99)), "edit-p99-ms")
	b.Logf("policy edit in the kernel: p50 %.1f p90 %.1f p99 %.1f max %.1f ms; agent CPU %.1f ms per edit",
		ms(percentile(total, 0.5)), ms(percentile(total, 0.9)), ms(percentile(total, 0.99)), ms(percentile(total, 1)),
		ms((after.CPU-before.CPU)/policySamples))
}

// measureLabelMove moves remote endpoints from app-a's IP set to
// app-(a+50)'s: not next to any address already in it.
func (p *policyLab) measureLabelMove() {
	b := p.b
	p.watch()
	var total []time.Duration
	before := p.usage()
	for i := range policySamples {
		ep := 1000 + i*97
		app := (ep%policyApps + policyApps/2) % policyApps
		key, val := remoteWEP(ep, app, 1)
		ip := remoteIP(ep, 1)
		ch := p.nft.expect(elemEvent(ip.AsSlice()))
		t0 := time.Now()
		if _, err := p.be.Update(p.ctx, key, val, 0, 0); err != nil {
			b.Fatal(err)
		}
		t1, err := p.nft.wait(ch, policyEventWait)
		if err != nil {
			b.Fatalf("remote endpoint %d (%s) to app-%d: %v", ep, ip, app, err)
		}
		total = append(total, t1.Sub(t0))
		time.Sleep(settle)
	}
	after := p.usage()
	b.ReportMetric(ms(percentile(total, 0.50)), "label-p50-ms")
	b.ReportMetric(ms(percentile(total, 0.99)), "label-p99-ms")
	b.Logf("label change -> set element: p50 %.1f p90 %.1f p99 %.1f max %.1f ms; agent CPU %.1f ms per change",
		ms(percentile(total, 0.5)), ms(percentile(total, 0.9)), ms(percentile(total, 0.99)), ms(percentile(total, 1)),
		ms((after.CPU-before.CPU)/policySamples))
}

// --- datastore content ---

// loadKVs writes n generated key-values with bounded concurrency.
func loadKVs(tb testing.TB, be datastore.Backend, n int, gen func(i int) (string, []byte)) {
	tb.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				k, v := gen(i)
				if _, err := be.Update(ctx, k, v, 0, 0); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		tb.Fatal(first)
	}
}

// remoteIP is remote endpoint i's address; stride > 1 leaves gaps so that
// no two endpoints' addresses make a range.
func remoteIP(i, stride int) netip.Addr {
	n := i * stride
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

// remoteWEP is wepJSON's endpoint i with a group label (and app-<app>
// instead of its own app label when app >= 0), at remoteIP(i, stride).
func remoteWEP(i, app, stride int) (string, []byte) {
	key, val := wepJSON(i)
	var w v3.WorkloadEndpoint
	if err := json.Unmarshal(val, &w); err != nil {
		panic(err)
	}
	w.Metadata.Labels["grp"] = fmt.Sprintf("g%d", (i/3)%policyApps)
	w.Metadata.Labels["role"] = "client"
	if app >= 0 {
		w.Metadata.Labels["app"] = fmt.Sprintf("app-%d", app)
	}
	w.Spec.IPNetworks = []string{netip.PrefixFrom(remoteIP(i, stride), 32).String()}
	v, err := json.Marshal(&w)
	if err != nil {
		panic(err)
	}
	return key, v
}

// labelledEndpoint is storedEndpoint with labels.
func labelledEndpoint(b *testing.B, w lab.Workload, labels map[string]string) (string, []byte) {
	b.Helper()
	wep := lab.WorkloadEndpoint(w)
	wep.Metadata.Labels = labels
	return stored(b, wep)
}

func stored(b *testing.B, r v3.Resource) (string, []byte) {
	b.Helper()
	r, key, err := resources.Prepare(r)
	if err != nil {
		b.Fatal(err)
	}
	m := r.GetObjectMeta()
	m.UID = fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)
	m.CreationTimestamp = v3.NewTime(time.Now())
	v, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	return key, v
}

func gnpName(i int) string { return fmt.Sprintf("pol-%d", i) }

// gnpJSON is policy i (see policyScale) with its first ingress rule on
// port.
func gnpJSON(b *testing.B, i, groups int, port uint16) (string, []byte) {
	return gnpKV(b, i, groups, port)
}

func gnpKV(b *testing.B, i, groups int, port uint16) (string, []byte) {
	tcp, udp := v3.ProtocolFromString("TCP"), v3.ProtocolFromString("UDP")
	p := v3.NewGlobalNetworkPolicy()
	p.Metadata.Name = gnpName(i)
	order := float64(i)
	p.Spec.Order = &order
	p.Spec.Selector = fmt.Sprintf("grp == 'g%d'", i%groups)
	p.Spec.Types = []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}
	p.Spec.Ingress = []v3.Rule{
		{Action: v3.Allow, Protocol: &tcp,
			Source:      v3.EntityRule{Selector: fmt.Sprintf("app == 'app-%d'", i%policyApps)},
			Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(port)}}},
		{Action: v3.Allow, Protocol: &udp,
			Source:      v3.EntityRule{Nets: []string{fmt.Sprintf("172.%d.0.0/16", 16+i%16)}},
			Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(53)}}},
		{Action: v3.Deny, Protocol: &tcp,
			Source:      v3.EntityRule{Selector: fmt.Sprintf("tier == 'frontend' && app == 'app-%d'", (i+7)%policyApps)},
			Destination: v3.EntityRule{Ports: []v3.Port{v3.PortRange(9000, 9100)}}},
	}
	p.Spec.Egress = []v3.Rule{
		{Action: v3.Allow, Protocol: &tcp,
			Destination: v3.EntityRule{Selector: fmt.Sprintf("app == 'app-%d'", (i+1)%policyApps), Ports: []v3.Port{v3.SinglePort(443)}}},
		{Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"192.168.0.0/16"}}},
	}
	return stored(b, p)
}

// --- the kernel's table ---

// tableCounts is what table inet calico holds.
type tableCounts struct {
	chains, sets, fromWL, toWL int
	at                         time.Time
}

func (c tableCounts) String() string {
	return fmt.Sprintf("%d chains, %d sets, %d+%d verdict-map elements", c.chains, c.sets, c.fromWL, c.toWL)
}

func (c tableCounts) complete(want tableCounts) bool {
	return c.chains == want.chains && c.sets == want.sets && c.fromWL == want.fromWL && c.toWL == want.toWL
}

// nftConn is a netlink connection to nftables in the namespace at path.
func nftConn(path string) (*nftables.Conn, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd) // the netlink socket is made now, in that namespace
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", path, err)
	}
	return c, nil
}

// readTable counts table inet calico's chains, sets and verdict-map
// elements; ok is false when there is no such table.
func readTable(c *nftables.Conn) (tc tableCounts, ok bool, err error) {
	t, err := c.ListTableOfFamily(calicoTable, nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return tc, false, nil
		}
		return tc, false, err
	}
	tc.at = time.Now()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return tc, false, err
	}
	for _, ch := range chains {
		if ch.Table.Name == calicoTable {
			tc.chains++
		}
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return tc, false, err
	}
	for _, s := range sets {
		if s.Anonymous {
			continue
		}
		tc.sets++
		if s.Name == "from-wl" || s.Name == "to-wl" {
			els, err := c.GetSetElements(s)
			if err != nil {
				return tc, false, err
			}
			if s.Name == "from-wl" {
				tc.fromWL = len(els)
			} else {
				tc.toWL = len(els)
			}
		}
	}
	return tc, true, nil
}

// waitTable polls the table every 5 ms (calling also, when given, each
// time) until it is complete (equal to p.want; with p.want unset, until
// the agent is ready and two reads agree). at is the time the complete
// table was first seen to exist.
func (p *policyLab) waitTable(also func(), timeout time.Duration) tableCounts {
	b := p.b
	c, err := nftConn(p.nsPath)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseLasting()
	deadline := time.Now().Add(timeout)
	var prev tableCounts
	for {
		if also != nil {
			also()
		}
		tc, ok, err := readTable(c)
		if err != nil {
			b.Fatalf("reading table inet calico: %v", err)
		}
		if ok {
			if p.want.chains > 0 && tc.complete(p.want) {
				return tc
			}
			if p.want.chains == 0 && tc.complete(prev) && p.ready() {
				return tc
			}
			prev = tc
		}
		if time.Now().After(deadline) {
			b.Fatalf("table inet calico: %s (exists %v) after %v; want %s", tc, ok, timeout, p.want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deleteTable deletes the agent's table in the host namespace (never the
// root namespace: the connection is made in the lab's).
func (p *policyLab) deleteTable() error {
	c, err := nftConn(p.nsPath)
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	c.DelTable(&nftables.Table{Name: calicoTable, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table inet calico: %w", err)
	}
	return nil
}

// --- nftables events ---

// nftWatch follows nftables netlink events in a namespace and tells
// waiters when events matching all of their predicates were seen; the
// time is that of the transaction (NEWGEN) holding the last of them, as
// read by this process.
type nftWatch struct {
	conn *nftables.Conn
	mon  *nftables.Monitor
	done chan struct{}

	mu      sync.Mutex
	waiters []*nftWaiter
	err     error
}

type nftPred func(*nftables.MonitorEvent) bool

type nftWaiter struct {
	pending []nftPred
	at      chan time.Time
}

func watchNFT(path string) (*nftWatch, error) {
	// Not a lasting connection: the monitor's own socket is closed by
	// Monitor.Close only then. It is made in the namespace by
	// AddGenerationalMonitor, while fd is open.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", path, err)
	}
	w := &nftWatch{conn: c, done: make(chan struct{})}
	w.mon = nftables.NewMonitor(nftables.WithMonitorEventBuffer(4096),
		nftables.WithMonitorObject(nftables.MonitorObjectChains|nftables.MonitorObjectRules|nftables.MonitorObjectElements))
	ch, err := c.AddGenerationalMonitor(w.mon)
	if err != nil {
		return nil, fmt.Errorf("nftables monitor: %w", err)
	}
	go w.run(ch)
	return w, nil
}

func (w *nftWatch) run(ch chan *nftables.MonitorEvents) {
	defer close(w.done)
	for evs := range ch {
		now := time.Now()
		w.mu.Lock()
		if g := evs.GeneratedBy; g != nil && g.Type == nftables.MonitorEventTypeOOB && g.Error != nil && w.err == nil {
			w.err = g.Error
		}
		keep := w.waiters[:0]
		for _, wt := range w.waiters {
			for _, ev := range evs.Changes {
				if ev.Error != nil {
					continue
				}
				for i, pr := range wt.pending {
					if pr(ev) {
						wt.pending = slices.Delete(wt.pending, i, i+1)
						break
					}
				}
			}
			if len(wt.pending) == 0 {
				wt.at <- now
				continue
			}
			keep = append(keep, wt)
		}
		w.waiters = keep
		w.mu.Unlock()
	}
}

// expect registers a waiter; register before the write.
func (w *nftWatch) expect(preds ...nftPred) <-chan time.Time {
	wt := &nftWaiter{pending: preds, at: make(chan time.Time, 1)}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters = append(w.waiters, wt)
	return wt.at
}

func (w *nftWatch) wait(ch <-chan time.Time, timeout time.Duration) (time.Time, error) {
	select {
	case t := <-ch:
		return t, nil
	case <-time.After(timeout):
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	missing := -1
	keep := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.at == ch {
			missing = len(wt.pending)
			continue
		}
		keep = append(keep, wt)
	}
	w.waiters = keep
	if w.err != nil {
		return time.Time{}, fmt.Errorf("nftables events: %w", w.err)
	}
	return time.Time{}, fmt.Errorf("%d nftables event(s) missing after %v", missing, timeout)
}

func (w *nftWatch) close() {
	w.mon.Close()
	<-w.done
}

func chainEvent(t nftables.MonitorEventType, name string) nftPred {
	return func(ev *nftables.MonitorEvent) bool {
		c, ok := ev.Data.(*nftables.Chain)
		return ev.Type == t && ok && c.Name == name && c.Table != nil && c.Table.Name == calicoTable
	}
}

// elemEvent matches a new set or map element with key key (an
// interface name's key is zero-padded).
func elemEvent(key []byte) nftPred {
	return func(ev *nftables.MonitorEvent) bool {
		els, ok := ev.Data.([]nftables.SetElement)
		if ev.Type != nftables.MonitorEventTypeNewSetElem || !ok {
			return false
		}
		for _, e := range els {
			if !e.IntervalEnd && bytes.Equal(bytes.TrimRight(e.Key, "\x00"), bytes.TrimRight(key, "\x00")) && len(e.Key) >= len(key) {
				return true
			}
		}
		return false
	}
}

func ifnameKey(name string) []byte { return []byte(name) }

// ruleWithPort matches a new rule in chain that compares a port with
// port (a single port compiles to a cmp).
func ruleWithPort(chain string, port uint16) nftPred {
	want := binary.BigEndian.AppendUint16(nil, port)
	return func(ev *nftables.MonitorEvent) bool {
		r, ok := ev.Data.(*nftables.Rule)
		if ev.Type != nftables.MonitorEventTypeNewRule || !ok || r.Chain == nil || r.Chain.Name != chain {
			return false
		}
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Cmp); ok && bytes.Equal(c.Data, want) {
				return true
			}
		}
		return false
	}
}

// --- datapath ---

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
	name, err := d.l.Namespace(target)
	if err != nil {
		return err
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	defer ns.Close()
	return nsthread.Run(ns, f)
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
// destination's tw- chain (host2) jump to policy chains (selected) or
// to none.
func (d *datapath) waitPolicies(selected bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	check := func(w lab.Workload, chain string) (bool, error) {
		c, err := nftConn(filepath.Join("/run/netns", must(d.l.Namespace(w.Host))))
		if err != nil {
			return false, err
		}
		defer c.CloseLasting()
		rules, err := c.GetRules(&nftables.Table{Name: calicoTable, Family: nftables.TableFamilyINet}, &nftables.Chain{Name: chain})
		if err != nil {
			return false, nil // not there yet
		}
		jumps := 0
		for _, r := range rules {
			for _, e := range r.Exprs {
				if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictJump && strings.HasPrefix(v.Chain, "p") &&
					(strings.HasPrefix(v.Chain, "pi-") || strings.HasPrefix(v.Chain, "po-")) {
					jumps++
				}
			}
		}
		want := 0
		if selected {
			want = policiesPerEndpoint + 1
		}
		return jumps == want, nil
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
