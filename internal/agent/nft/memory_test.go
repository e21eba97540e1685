package nft

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// agentRuleset is a table the size calico-node applies at cold start:
// 2,500 chains of 12,000 rules in all (4 or 5 each, a third of them with
// an anonymous set), dispatched to by a verdict map, and 400 named sets
// of 20 addresses that the rules look up.
func agentRuleset() *Ruleset {
	const chains, sets, elems = 2500, 400, 20
	rs := &Ruleset{
		Table:  "calico",
		Sets:   map[string]*Set{},
		Maps:   map[string]*Map{"to-wl": {Type: TypeIfname, Elements: map[string]Verdict{}}},
		Chains: map[string]*Chain{},
	}
	for i := range sets {
		s := &Set{Type: TypeIPv4Addr, Interval: i%4 == 0, Elements: make([]Element, elems)}
		for j := range elems {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(j * 8)})
			bits := 32
			if s.Interval {
				bits = 29
			}
			s.Elements[j] = Element{Prefix: netip.PrefixFrom(a, bits)}
		}
		rs.Sets[fmt.Sprintf("s-%03d", i)] = s
	}
	rs.Chains["forward"] = &Chain{Base: &Hook{Hook: "forward"}, Rules: []Rule{
		{Match: []Match{{Kind: MatchCTState, Num: CTEstablished | CTRelated}}, Verdict: Verdict{Kind: VerdictAccept}},
		{Verdict: Verdict{Kind: VerdictMap, Map: "to-wl", Key: "oifname"}},
	}}
	for i := range chains - 1 {
		name := fmt.Sprintf("wl-%04d", i)
		rs.Maps["to-wl"].Elements[fmt.Sprintf("cali%05d", i)] = Verdict{Kind: VerdictJump, Chain: name}
		n := 4 + i%5/4 // 4 4 4 4 5: 12,000 rules with the forward chain's
		rules := workloadRules(i, n, 0)
		for j := range rules {
			for k := range rules[j].Match {
				if rules[j].Match[k].Set != "" {
					rules[j].Match[k].Set = fmt.Sprintf("s-%03d", (i+j)%sets)
				}
			}
		}
		rs.Chains[name] = &Chain{Rules: rules}
	}
	return rs
}

// peakHeap samples the heap in use until stop is called, which returns
// the highest sample. Samples come from runtime/metrics, which does not
// stop the world.
func peakHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64() + sample[1].Value.Uint64()
	}
	var (
		wg   sync.WaitGroup
		peak = read()
		done = make(chan struct{})
	)
	wg.Go(func() {
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				peak = max(peak, read())
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, read())
	}
}

// BenchmarkApplyColdMemory: the memory a cold apply of an agent-sized
// table (agentRuleset) takes against the fake transport: everything but
// the kernel's side. Besides B/op and allocs/op it reports the heap in
// use at its peak during the Apply, less the heap in use before it
// (peak-heap-MB: what the transaction adds to the agent's footprint),
// and the messages sent.
//
//	go test -run '^$' -bench BenchmarkApplyColdMemory -benchtime 5x ./internal/agent/nft/
func BenchmarkApplyColdMemory(b *testing.B) {
	ctx := context.Background()
	rs := agentRuleset()
	var peak uint64
	msgs := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		a, _, _ := fakeApplier(b)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		stop := peakHeap()
		b.StartTimer()
		if err := a.Apply(ctx, rs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if p := stop(); p > base {
			peak = max(peak, p-base)
		}
		msgs += a.Stats().Msgs
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
}
