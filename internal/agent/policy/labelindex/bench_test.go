package labelindex

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/gocalico/calico/internal/selector"
)

// The benchmark world: 90,000 Kubernetes endpoints in 100 namespaces with
// 10 service accounts each (so two profiles per endpoint), 10,000 network
// sets, and 10,000 selectors shaped like rewritten policy selectors.
const (
	benchEndpoints  = 90_000
	benchNetSets    = 10_000
	benchSelectors  = 10_000
	benchNamespaces = 100
	benchApps       = 1_000
	benchNetNames   = 500
	benchZones      = 100
)

var (
	benchRoles = []string{"frontend", "backend", "db", "cache", "worker"}
	benchEnvs  = []string{"prod", "staging", "dev"}
)

// benchEndpoint returns endpoint i's labels (variant 1 has another role)
// and profiles.
func benchEndpoint(i, variant int) (map[string]string, []string) {
	ns := fmt.Sprintf("ns%d", i%benchNamespaces)
	sa := fmt.Sprintf("sa%d", i/benchNamespaces%10)
	return map[string]string{
		"app":                              fmt.Sprintf("app%d", i%benchApps),
		"role":                             benchRoles[(i/benchApps+variant)%len(benchRoles)],
		"env":                              benchEnvs[i/7%len(benchEnvs)],
		"version":                          fmt.Sprintf("v%d", i/13%4),
		"pod-template-hash":                fmt.Sprintf("%08x", i/3),
		"projectcalico.org/namespace":      ns,
		"projectcalico.org/orchestrator":   "k8s",
		"projectcalico.org/serviceaccount": sa,
	}, []string{"kns." + ns, "ksa." + ns + "." + sa}
}

func benchNetSet(i int) map[string]string {
	return map[string]string{
		"netset": fmt.Sprintf("n%d", i%benchNetNames),
		"zone":   fmt.Sprintf("z%d", i%benchZones),
	}
}

// benchNamespace returns the labels namespace profile n hands down;
// variant 1 moves it to another team.
func benchNamespace(n, variant int) map[string]string {
	return map[string]string{
		"pcns.projectcalico.org/name": fmt.Sprintf("ns%d", n),
		"pcns.team":                   fmt.Sprintf("team%d", (n+variant)%10),
		"pcns.env":                    benchEnvs[n%len(benchEnvs)],
	}
}

// benchSelector returns selector k: equalities, sets, has, != and
// profile labels, combined with && and ||, each matching tens to hundreds
// of items. The first two match almost everything, like a global policy.
func benchSelector(k int) string {
	a, b, ns := k*7%benchApps, k*13%benchApps, k%benchNamespaces
	switch k {
	case 0:
		return "has(projectcalico.org/namespace)"
	case 1:
		return "!has(quarantine)"
	}
	switch k % 10 {
	case 0:
		return fmt.Sprintf("app == 'app%d'", a)
	case 1:
		return fmt.Sprintf("projectcalico.org/namespace == 'ns%d' && role in {'frontend', 'backend'}", ns)
	case 2:
		return fmt.Sprintf("(app == 'app%d' || app == 'app%d') && role != 'db'", a, b)
	case 3:
		return fmt.Sprintf("has(app) && env == 'prod' && projectcalico.org/namespace == 'ns%d' && version != 'v1'", ns)
	case 4:
		return fmt.Sprintf("pcns.team == 'team%d' && app == 'app%d'", a%10, a)
	case 5:
		return fmt.Sprintf("netset == 'n%d'", k%benchNetNames)
	case 6:
		return fmt.Sprintf("zone in {'z%d', 'z%d'} && !has(deprecated)", k%benchZones, (k+1)%benchZones)
	case 7:
		return fmt.Sprintf("pcsa.projectcalico.org/name == 'sa%d' && projectcalico.org/namespace == 'ns%d'", k%10, ns)
	case 8:
		return fmt.Sprintf("role == 'db' && pcns.env != 'dev' && projectcalico.org/namespace == 'ns%d'", ns)
	default:
		return fmt.Sprintf("app == 'app%d' && version in {'v2', 'v3'}", a)
	}
}

func mustParseB(src string) selector.Selector {
	sel, err := selector.Parse(src)
	if err != nil {
		panic(err)
	}
	return sel
}

// benchWorld is built once and shared: every benchmark leaves it as it
// found it, or in an equivalent state.
var benchWorld = sync.OnceValue(func() *Index {
	ix := New(func(string, string, bool) {})
	for n := range benchNamespaces {
		ix.UpdateParent(fmt.Sprintf("kns.ns%d", n), benchNamespace(n, 0))
		for sa := range 10 {
			ix.UpdateParent(fmt.Sprintf("ksa.ns%d.sa%d", n, sa), map[string]string{"pcsa.projectcalico.org/name": fmt.Sprintf("sa%d", sa)})
		}
	}
	for i := range benchEndpoints {
		labels, parents := benchEndpoint(i, 0)
		ix.UpdateItem(fmt.Sprintf("ep%d", i), labels, parents)
	}
	for i := range benchNetSets {
		ix.UpdateItem(fmt.Sprintf("netset%d", i), benchNetSet(i), nil)
	}
	for k := range benchSelectors {
		ix.UpdateSelector(fmt.Sprintf("sel%d", k), mustParseB(benchSelector(k)))
	}
	return ix
})

// BenchmarkSelectorAdd adds a selector to the full world and deletes it
// again; the time is for both.
func BenchmarkSelectorAdd(b *testing.B) {
	ix := benchWorld()
	sels := make([]selector.Selector, 1000)
	for i := range sels {
		sels[i] = mustParseB(benchSelector(benchSelectors + 2 + i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ix.UpdateSelector("bench", sels[i%len(sels)])
		ix.DeleteSelector("bench")
		i++
	}
}

// BenchmarkItemLabelChange changes the role label of an endpoint and back
// on alternate iterations.
func BenchmarkItemLabelChange(b *testing.B) {
	ix := benchWorld()
	const n = 1000
	type variants struct {
		id      string
		labels  [2]map[string]string
		parents []string
	}
	eps := make([]variants, n)
	for j := range eps {
		i := j * 89 % benchEndpoints
		eps[j].id = fmt.Sprintf("ep%d", i)
		eps[j].labels[0], eps[j].parents = benchEndpoint(i, 0)
		eps[j].labels[1], _ = benchEndpoint(i, 1)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ep := &eps[i%n]
		ix.UpdateItem(ep.id, ep.labels[i/n%2], ep.parents)
		i++
	}
	for j := range eps { // restore the world
		ix.UpdateItem(eps[j].id, eps[j].labels[0], eps[j].parents)
	}
}

// BenchmarkItemAdd adds an endpoint and deletes it again; the time is for
// both.
func BenchmarkItemAdd(b *testing.B) {
	ix := benchWorld()
	const n = 1000
	labels := make([]map[string]string, n)
	parents := make([][]string, n)
	for j := range labels {
		labels[j], parents[j] = benchEndpoint(j*89, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ix.UpdateItem("bench", labels[i%n], parents[i%n])
		ix.DeleteItem("bench")
		i++
	}
}

// BenchmarkProfileLabelChange moves a namespace to another team and back
// on alternate iterations; each namespace profile is listed by 900
// endpoints.
func BenchmarkProfileLabelChange(b *testing.B) {
	ix := benchWorld()
	var ids [benchNamespaces]string
	var labels [benchNamespaces][2]map[string]string
	for n := range labels {
		ids[n] = fmt.Sprintf("kns.ns%d", n)
		labels[n] = [2]map[string]string{benchNamespace(n, 0), benchNamespace(n, 1)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := i % benchNamespaces
		ix.UpdateParent(ids[n], labels[n][i/benchNamespaces%2])
		i++
	}
	for n := range labels {
		ix.UpdateParent(ids[n], labels[n][0])
	}
}

// BenchmarkBaselineAllSelectors evaluates every selector of the world on
// one endpoint's merged labels: what an index without selector indexing
// would do for each item change. Compare with BenchmarkItemLabelChange.
func BenchmarkBaselineAllSelectors(b *testing.B) {
	sels := make([]selector.Selector, benchSelectors)
	for k := range sels {
		sels[k] = mustParseB(benchSelector(k))
	}
	labels, _ := benchEndpoint(12345, 0)
	for k, v := range benchNamespace(12345%benchNamespaces, 0) {
		labels[k] = v
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, sel := range sels {
			sel.Evaluate(labels)
		}
	}
}

// BenchmarkIPSetsItemUpdate moves an endpoint's address and changes its
// role, with every selector of the world defining a set (and one in ten
// also a named-port set).
func BenchmarkIPSetsItemUpdate(b *testing.B) {
	s := NewIPSets(func(string, Member, bool) {})
	for n := range benchNamespaces {
		s.UpdateParent(fmt.Sprintf("kns.ns%d", n), benchNamespace(n, 0))
		for sa := range 10 {
			s.UpdateParent(fmt.Sprintf("ksa.ns%d.sa%d", n, sa), map[string]string{"pcsa.projectcalico.org/name": fmt.Sprintf("sa%d", sa)})
		}
	}
	ports := []NamedPort{{"http", 6, 8080}, {"metrics", 6, 9090}}
	addr := func(i, variant int) []netip.Prefix {
		return []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(variant), byte(i >> 8), byte(i)}), 32)}
	}
	for i := range benchEndpoints {
		labels, parents := benchEndpoint(i, 0)
		s.UpdateItem(fmt.Sprintf("ep%d", i), labels, parents, addr(i, 0), ports)
	}
	for i := range benchNetSets {
		cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i >> 8), byte(i), 0}), 24)
		s.UpdateItem(fmt.Sprintf("netset%d", i), benchNetSet(i), nil, []netip.Prefix{cidr}, nil)
	}
	for k := range benchSelectors {
		sel := mustParseB(benchSelector(k))
		s.AddSet(fmt.Sprintf("set%d", k), sel, "", 0)
		if k%10 == 0 {
			s.AddSet(fmt.Sprintf("http%d", k), sel, "http", 6)
		}
	}
	const n = 1000
	type variants struct {
		id      string
		labels  [2]map[string]string
		parents []string
		addrs   [2][]netip.Prefix
	}
	eps := make([]variants, n)
	for j := range eps {
		i := j * 89 % benchEndpoints
		eps[j].id = fmt.Sprintf("ep%d", i)
		eps[j].labels[0], eps[j].parents = benchEndpoint(i, 0)
		eps[j].labels[1], _ = benchEndpoint(i, 1)
		eps[j].addrs = [2][]netip.Prefix{addr(i, 0), addr(i, 1)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ep := &eps[i%n]
		v := i / n % 2
		s.UpdateItem(ep.id, ep.labels[v], ep.parents, ep.addrs[v], ports)
		i++
	}
}
