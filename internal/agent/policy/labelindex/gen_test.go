package labelindex

import (
	"fmt"
	"net/netip"
)

// gen builds random operations over a small vocabulary, so that labels,
// parents, selectors and addresses collide often. intn returns a number
// in [0, n); it is backed by math/rand for the randomised tests and by
// fuzz bytes for FuzzIndex.
type gen struct {
	intn func(n int) int
}

var (
	genItems   = []string{"i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"}
	genParents = []string{"p0", "p1", "p2", "p3", "p4"}
	genSels    = []string{"s0", "s1", "s2", "s3", "s4"}
	genSets    = []string{"S0", "S1", "S2", "S3", "S4"}
	genKeys    = []string{"a", "b", "c", "d"}
	genValues  = []string{"x", "y", "z"}
	genAddrs   = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.1/32"),
		netip.MustParsePrefix("10.0.0.2/32"),
		netip.MustParsePrefix("10.0.0.3/32"),
		netip.MustParsePrefix("fd00::1/128"),
		netip.MustParsePrefix("fd00::2/128"),
		netip.MustParsePrefix("10.0.0.0/24"),
		netip.MustParsePrefix("10.0.0.9/24"), // the same set member as 10.0.0.0/24
		netip.MustParsePrefix("fd00::/64"),
	}
	genPorts = []NamedPort{
		{"http", 6, 80}, {"http", 6, 8080}, {"http", 17, 80},
		{"dns", 17, 53}, {"dns", 6, 53}, {"metrics", 6, 9090},
	}
	genNamedPorts = []string{"", "", "http", "dns"}
	genProtos     = []uint8{0, 6, 17}
)

func (g gen) pick(xs []string) string { return xs[g.intn(len(xs))] }

func (g gen) labels() map[string]string {
	l := map[string]string{}
	for _, k := range genKeys {
		if g.intn(2) == 0 {
			l[k] = g.pick(genValues)
		}
	}
	return l
}

func (g gen) parents() []string {
	var ps []string
	for range g.intn(4) {
		ps = append(ps, g.pick(genParents))
	}
	return ps
}

func (g gen) addrs() []netip.Prefix {
	var as []netip.Prefix
	for range g.intn(3) {
		as = append(as, genAddrs[g.intn(len(genAddrs))])
	}
	return as
}

func (g gen) ports() []NamedPort {
	var ps []NamedPort
	for range g.intn(3) {
		ps = append(ps, genPorts[g.intn(len(genPorts))])
	}
	return ps
}

// selector returns selector source using every operator.
func (g gen) selector(depth int) string {
	key := g.pick(genKeys)
	val := func() string { return fmt.Sprintf("%q", g.pick(genValues)) }
	if depth > 0 && g.intn(3) == 0 {
		op := " && "
		if g.intn(2) == 0 {
			op = " || "
		}
		return "(" + g.selector(depth-1) + op + g.selector(depth-1) + ")"
	}
	switch g.intn(12) {
	case 0:
		return "has(" + key + ")"
	case 1, 2:
		return key + " == " + val()
	case 3:
		return key + " != " + val()
	case 4:
		return key + " in {" + val() + ", " + val() + "}"
	case 5:
		return key + " not in {" + val() + "}"
	case 6:
		return key + " contains " + val()
	case 7:
		return "!" + g.selector(depth)
	case 8:
		return "all()"
	case 9:
		return key + " in {}"
	case 10:
		return key + " starts with " + val()
	default:
		return key + " ends with " + val()
	}
}

// op returns a random operation on a random object.
func (g gen) op() op {
	n := g.intn(100)
	switch {
	case n < 40:
		return g.opOn(opUpdateItem, g.pick(genItems))
	case n < 48:
		return g.opOn(opDeleteItem, g.pick(genItems))
	case n < 63:
		return g.opOn(opUpdateParent, g.pick(genParents))
	case n < 68:
		return g.opOn(opDeleteParent, g.pick(genParents))
	case n < 80:
		return g.opOn(opUpdateSelector, g.pick(genSels))
	case n < 84:
		return g.opOn(opDeleteSelector, g.pick(genSels))
	case n < 96:
		return g.opOn(opAddSet, g.pick(genSets))
	default:
		return g.opOn(opRemoveSet, g.pick(genSets))
	}
}

// opOn returns a random operation of kind on object id.
func (g gen) opOn(kind opKind, id string) op {
	o := op{kind: kind, id: id}
	switch kind {
	case opUpdateItem:
		o.labels, o.parents, o.addrs, o.ports = g.labels(), g.parents(), g.addrs(), g.ports()
	case opUpdateParent:
		o.labels = g.labels()
	case opUpdateSelector:
		o.sel = g.selector(2)
	case opAddSet:
		o.sel, o.namedPort, o.proto = g.selector(2), g.pick(genNamedPorts), genProtos[g.intn(len(genProtos))]
	}
	return o
}

// history returns one to four operations on one object, which must be
// applied in order; histories of different objects commute.
func (g gen) history(update, del opKind, id string) []op {
	var ops []op
	for range 1 + g.intn(4) {
		kind := update
		if g.intn(4) == 0 {
			kind = del
		}
		ops = append(ops, g.opOn(kind, id))
	}
	return ops
}
