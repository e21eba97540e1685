package birdcfg

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
)

// renderer holds the state of one Render call.
type renderer struct {
	in  *Input
	opt Options

	problems []string
	seen     map[string]bool
	mute     bool

	globalAS   uint32
	bindNodeIP bool
	nodes      map[string]*nodeInfo
	nodeNames  []string
	me         *nodeInfo
	pools      map[int][]pool         // by family
	blocks     map[int][]netip.Prefix // the node's blocks inside a pool, by family
}

func (r *renderer) problem(format string, args ...any) {
	if r.mute {
		return
	}
	p := fmt.Sprintf(format, args...)
	if !r.seen[p] {
		r.seen[p] = true
		r.problems = append(r.problems, p)
	}
}

// Render renders the BIRD config of in.NodeName. It never fails: what it
// cannot use is reported in Result.Problems and left out, and the rest is
// still rendered.
func Render(in *Input, opt Options) *Result {
	if in == nil {
		in = &Input{}
	}
	if opt.RouteProtocol <= 0 || opt.RouteProtocol > 255 {
		opt.RouteProtocol = DefaultRouteProtocol
	}
	if len(opt.InterfacePrefixes) == 0 {
		opt.InterfacePrefixes = []string{"cali"}
	}
	r := &renderer{in: in, opt: opt, seen: map[string]bool{}, globalAS: DefaultASNumber}
	if g := in.Global; g != nil && g.ASNumber != nil {
		if *g.ASNumber == 0 {
			r.problem(`BGPConfiguration "default": spec.asNumber 0 is not a valid AS number; using %d`, DefaultASNumber)
		} else {
			r.globalAS = uint32(*g.ASNumber)
		}
	}
	if bm := r.setting(func(c *v3.BGPConfigurationSpec) string {
		if c.BindMode == nil {
			return ""
		}
		return string(*c.BindMode)
	}); bm == string(v3.BindModeNodeIP) {
		r.bindNodeIP = true
	} else if bm != "" && bm != string(v3.BindModeNone) {
		r.problem("BGPConfiguration: spec.bindMode %q is not None or NodeIP; using None", bm)
	}
	r.parseNodes()
	r.parsePools()
	r.parseBlocks()
	r.me = r.nodes[in.NodeName]

	var sessions []*session
	switch {
	case r.me == nil:
		r.problem("Node %q: not found in the datastore; no BGP sessions", in.NodeName)
		r.me = &nodeInfo{name: in.NodeName, asn: r.globalAS, port: r.listenPort(in.NodeName)}
	case !r.me.addr4.IsValid() && !r.me.addr6.IsValid():
		r.problem("Node %q: spec.bgp has no usable ipv4Address or ipv6Address; no BGP sessions", in.NodeName)
	default:
		sessions = r.buildSessions()
	}
	slices.SortStableFunc(sessions, func(a, b *session) int {
		if c := typeOrder(a.typ) - typeOrder(b.typ); c != 0 {
			return c
		}
		if c := a.family - b.family; c != 0 {
			return c
		}
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return a.port - b.port
	})

	res := &Result{RouterID: r.routerID()}
	var b strings.Builder
	r.writeConfig(&b, res.RouterID, sessions)
	res.Config = b.String()
	res.Problems = r.problems
	for _, s := range sessions {
		res.Peers = append(res.Peers, Peer{Protocol: s.name, Address: s.addr, Port: s.port, Type: s.typ, Family: s.family, ASN: s.asn})
	}
	return res
}

func typeOrder(t string) int {
	switch t {
	case TypeMesh:
		return 0
	case TypeGlobal:
		return 1
	}
	return 2
}

// setting returns a string setting from the per-node BGPConfiguration if
// it sets it, else from the default one.
func (r *renderer) setting(get func(*v3.BGPConfigurationSpec) string) string {
	if c := r.in.PerNode; c != nil {
		if v := get(c); v != "" {
			return v
		}
	}
	if c := r.in.Global; c != nil {
		return get(c)
	}
	return ""
}

// routerID is this node's IPv4 address, or for an IPv6-only (or unknown)
// node a stable 32-bit id hashed from its name.
func (r *renderer) routerID() string {
	if r.me.addr4.IsValid() {
		return r.me.addr4.String()
	}
	return hashedRouterID(r.in.NodeName)
}

func hashedRouterID(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	if v == 0 {
		v = 1
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// comment makes s safe to put after "#" on one line.
func comment(s string) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, s)
}

// quoted returns s as a BIRD string literal. BIRD strings have no escapes,
// so quotes, backslashes and control characters are replaced.
func quoted(s string) string {
	return `"` + strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			return '_'
		}
		return c
	}, s) + `"`
}
