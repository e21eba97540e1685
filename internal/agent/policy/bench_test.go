package policy

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// The agent benchmark's shape without the kernel: 250 local and 10k
// remote endpoints, 1000 GlobalNetworkPolicies, each endpoint selected by
// about 10. These time the calculation alone (OnUpdates + Ruleset).
const (
	benchLocal    = 250
	benchRemote   = 10000
	benchPolicies = 1000
)

func benchWEP(i int, node string, labels map[string]string) syncer.Update {
	w := v3.NewWorkloadEndpoint()
	w.Metadata.Namespace = "default"
	w.Metadata.Name = fmt.Sprintf("%s-k8s-pod%d-eth0", node, i)
	w.Metadata.Labels = labels
	a := netip.AddrFrom4([4]byte{10, byte(64 + i>>16), byte(i >> 8), byte(i)})
	w.Spec = v3.WorkloadEndpointSpec{Node: node, Orchestrator: "k8s", Pod: fmt.Sprintf("pod%d", i), Endpoint: "eth0",
		InterfaceName: fmt.Sprintf("cali%011d", i), MAC: "02:00:00:00:00:01",
		IPNetworks: []string{a.String() + "/32"}, Profiles: []string{"kns.default"}}
	k, _ := resources.KeyOf(w)
	return syncer.Update{Type: syncer.UpdateNew, Key: k, Value: w}
}

func benchGNP(i, port int) syncer.Update {
	p := v3.NewGlobalNetworkPolicy()
	p.Metadata.Name = fmt.Sprintf("default.p%d", i)
	order := float64(i)
	tcp, udp := v3.ProtocolFromString("TCP"), v3.ProtocolFromString("UDP")
	p.Spec = v3.GlobalNetworkPolicySpec{
		Tier: "default", Order: &order, Selector: fmt.Sprintf("grp == 'g%d'", i%(benchPolicies/10)),
		Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
		Ingress: []v3.Rule{
			{Action: v3.Allow, Protocol: &tcp, Source: v3.EntityRule{Selector: fmt.Sprintf("app == 'a%d'", i%100)},
				Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(uint16(port))}}},
			{Action: v3.Allow, Protocol: &udp, Source: v3.EntityRule{Nets: []string{"172.16.0.0/16"}},
				Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(53)}}},
		},
		Egress: []v3.Rule{{Action: v3.Allow, Protocol: &tcp, Destination: v3.EntityRule{Selector: fmt.Sprintf("app == 'a%d'", (i+1)%100)}}},
	}
	k, _ := resources.KeyOf(p)
	return syncer.Update{Type: syncer.UpdateNew, Key: k, Value: p}
}

func benchWorld() []syncer.Update {
	var us []syncer.Update
	prof := v3.NewProfile()
	prof.Metadata.Name = "kns.default"
	prof.Spec.Ingress = []v3.Rule{{Action: v3.Allow}}
	prof.Spec.Egress = []v3.Rule{{Action: v3.Allow}}
	k, _ := resources.KeyOf(prof)
	us = append(us, syncer.Update{Type: syncer.UpdateNew, Key: k, Value: prof})
	for i := range benchPolicies {
		us = append(us, benchGNP(i, 80))
	}
	for i := range benchLocal + benchRemote {
		node := "remote"
		if i < benchLocal {
			node = "host1"
		}
		us = append(us, benchWEP(i, node, map[string]string{"grp": fmt.Sprintf("g%d", i%(benchPolicies/10)), "app": fmt.Sprintf("a%d", i%100)}))
	}
	return us
}

func BenchmarkCalcCold(b *testing.B) {
	world := benchWorld()
	b.ResetTimer()
	for range b.N {
		c := NewCalc("host1", nil)
		c.OnUpdates(world)
		rs := c.Ruleset()
		if len(rs.Chains) < benchPolicies {
			b.Fatalf("%d chains", len(rs.Chains))
		}
	}
	b.StopTimer()
	// What a Calc holds: the heap with one alive, less the world.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := NewCalc("host1", nil)
	c.OnUpdates(world)
	c.Ruleset()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/1e6, "calc-heap-MB")
	runtime.KeepAlive(c)
}

func BenchmarkCalcChange(b *testing.B) {
	c := NewCalc("host1", nil)
	c.OnUpdates(benchWorld())
	c.Ruleset()
	b.Run("policy-edit", func(b *testing.B) {
		for i := range b.N {
			c.OnUpdates([]syncer.Update{benchGNP(7, 1000+i%1000)})
			c.Ruleset()
		}
	})
	b.Run("remote-label", func(b *testing.B) {
		for i := range b.N {
			c.OnUpdates([]syncer.Update{benchWEP(benchLocal+5, "remote", map[string]string{"grp": "g1", "app": fmt.Sprintf("a%d", i%100)})})
			c.Ruleset()
		}
	})
	b.Run("new-local", func(b *testing.B) {
		for i := range b.N {
			u := benchWEP(benchLocal+benchRemote+i%2, "host1", map[string]string{"grp": "g3", "app": "a3"})
			c.OnUpdates([]syncer.Update{u})
			c.Ruleset()
			c.OnUpdates([]syncer.Update{{Type: syncer.UpdateDeleted, Key: u.Key}})
			c.Ruleset()
		}
	})
}
