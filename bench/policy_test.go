package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/lab"
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
	a := upAgentLab(b, s.local, 50*time.Minute)
	p := &policyLab{agentLab: a, scale: s, nsPath: filepath.Join("/run/netns", a.nsName)}
	b.Cleanup(func() {
		if p.nft != nil {
			p.nft.close()
		}
	})

	start := time.Now()
	loadKVs(b, a.be, s.remote, func(i int) (string, []byte) { return remoteWEP(i, -1, 1) })
	for j, w := range a.localWorkloads() {
		k, v := labelledEndpoint(b, w, localLabels(j))
		if _, err := a.be.Update(a.ctx, k, v, 0, 0); err != nil {
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

// policyLatencyMetric is the agent's histogram of update arrival to
// policy table committed.
const policyLatencyMetric = "calico_agent_policy_programming_latency_seconds"

// measurePolicyEdit changes one policy's port per sample.
func (p *policyLab) measurePolicyEdit() {
	b := p.b
	p.watch()
	var total, apply, written []time.Duration
	before := p.usage()
	for i := range policySamples {
		// A policy that selects local endpoints (their groups are
		// g0..g99): one of the ten of group i*37 mod 100.
		pol := (i*37)%policyApps + p.scale.groups()*(i%policiesPerEndpoint)
		port := uint16(20000 + i)
		key, val := gnpKV(b, pol, p.scale.groups(), port)
		// A GlobalNetworkPolicy of the default tier is stored as
		// default.<name>; its ingress chain is pi-g-<stored name>.
		chain := "pi-g-default." + gnpName(pol)
		ch := p.nft.expect(ruleWithPort(chain, port))
		n0, s0 := p.histogramMetric(policyLatencyMetric)
		t0 := time.Now()
		if _, err := p.be.Update(p.ctx, key, val, 0, 0); err != nil {
			b.Fatal(err)
		}
		written = append(written, time.Since(t0))
		t1, err := p.nft.wait(ch, policyEventWait)
		if err != nil {
			b.Fatalf("policy %s port %d: %v", gnpName(pol), port, err)
		}
		total = append(total, t1.Sub(t0))
		time.Sleep(settle)
		// The agent's own view: arrival of the update to the table
		// committed (one apply per edit when nothing else happens).
		if n1, s1 := p.histogramMetric(policyLatencyMetric); n1 == n0+1 {
			apply = append(apply, s1-s0)
		}
	}
	after := p.usage()
	b.ReportMetric(ms(percentile(total, 0.50)), "edit-p50-ms")
	b.ReportMetric(ms(percentile(total, 0.99)), "edit-p99-ms")
	b.ReportMetric(ms(percentile(written, 0.50)), "edit-write-p50-ms")
	b.Logf("policy edit in the kernel: p50 %.1f p90 %.1f p99 %.1f max %.1f ms (the etcd write alone p50 %.1f ms); agent CPU %.1f ms per edit",
		ms(percentile(total, 0.5)), ms(percentile(total, 0.9)), ms(percentile(total, 0.99)), ms(percentile(total, 1)),
		ms(percentile(written, 0.5)), ms((after.CPU-before.CPU)/policySamples))
	if len(apply) > 0 {
		b.ReportMetric(ms(percentile(apply, 0.50)), "edit-apply-p50-ms")
		b.ReportMetric(ms(percentile(apply, 0.99)), "edit-apply-p99-ms")
		b.Logf("policy edit applied, the agent's %s (update arrived -> table committed): p50 %.1f p99 %.1f ms over %d edits",
			policyLatencyMetric, ms(percentile(apply, 0.5)), ms(percentile(apply, 0.99)), len(apply))
	}
}

// measureLabelMove moves remote endpoints from app-a's IP set to
// app-(a+50)'s: not next to any address already in it.
func (p *policyLab) measureLabelMove() {
	b := p.b
	p.watch()
	var total, written []time.Duration
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
		written = append(written, time.Since(t0))
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
	b.ReportMetric(ms(percentile(written, 0.50)), "label-write-p50-ms")
	b.Logf("label change -> set element: p50 %.1f p90 %.1f p99 %.1f max %.1f ms (the etcd write alone p50 %.1f ms); agent CPU %.1f ms per change",
		ms(percentile(total, 0.5)), ms(percentile(total, 0.9)), ms(percentile(total, 0.99)), ms(percentile(total, 1)),
		ms(percentile(written, 0.5)), ms((after.CPU-before.CPU)/policySamples))
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
