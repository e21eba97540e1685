package birdcfg

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/selector"
)

// session is one BGP protocol to render.
type session struct {
	name   string
	typ    string
	origin string // what asked for it: `BGPPeer "x"` or "node-to-node mesh"
	settings
}

// settings are the parts of a session that two resources asking for the
// same neighbor must agree on.
type settings struct {
	family int
	addr   netip.Addr
	port   int
	asn    uint32
	// localAS is the AS this node presents.
	localAS uint32
	// peerNode is the name of the Calico node the neighbor is, if any.
	peerNode string
	// local is the local (source) address; invalid lets the kernel choose.
	local       netip.Addr
	passive     bool
	password    string
	hasPassword bool
	// restart is the graceful restart time in seconds (0: BIRD's 120 s).
	restart      int
	keepalive    int
	ttlSecurity  int
	allowLocalAS int
	nextHop      string // "", "self" or "keep"
	rrClient     bool
	// importAll: an external router; take all its routes. Otherwise only
	// routes inside IP pools are imported.
	importAll bool
	// reflect: this node is a route reflector and the session is iBGP, so
	// BGP-learned routes may be passed on.
	reflect bool
	note    string // comment for the protocol
}

func (s *session) ibgp() bool { return s.asn == s.localAS }

// protocolName returns e.g. Mesh_10_99_0_2, Node_fd00__1_port_1790.
func protocolName(prefix string, a netip.Addr, port int) string {
	id := strings.NewReplacer(".", "_", ":", "_").Replace(a.String())
	name := prefix + "_" + id
	if port != DefaultPort {
		name += fmt.Sprintf("_port_%d", port)
	}
	return name
}

// buildSessions computes every session of this node: explicit BGPPeers
// first (global ones, then node-specific ones, then the reverse side of
// other nodes' BGPPeers), then the node-to-node mesh. A later session to a
// neighbor already configured is dropped, as upstream does.
func (r *renderer) buildSessions() []*session {
	peers := slices.Clone(r.in.Peers)
	peers = slices.DeleteFunc(peers, func(p *v3.BGPPeer) bool { return p == nil })
	slices.SortFunc(peers, func(a, b *v3.BGPPeer) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })

	var all []*session
	for _, global := range []bool{true, false} {
		for _, p := range peers {
			if global == (p.Spec.Node == "" && p.Spec.NodeSelector == "") {
				all = append(all, r.forward(p)...)
			}
		}
	}
	for _, p := range peers {
		all = append(all, r.reverse(p)...)
	}
	all = append(all, r.mesh()...)

	type key struct {
		addr netip.Addr
		port int
	}
	seen := map[key]*session{}
	var out []*session
	for _, s := range all {
		k := key{s.addr, s.port}
		first, dup := seen[k]
		if !dup {
			seen[k] = s
			out = append(out, s)
			continue
		}
		switch {
		case s.typ == TypeMesh:
			r.problem("node-to-node mesh: peer %s (node %q) is also configured by %s; using the %s session", s.addr, s.peerNode, first.origin, first.origin)
		case first.settings != s.settings:
			r.problem("%s and %s both configure peer %s port %d, with different settings (%s); using %s", first.origin, s.origin, s.addr, s.port, diff(first.settings, s.settings), first.origin)
		}
	}
	return out
}

// diff names the settings that differ, for problem reports.
func diff(a, b settings) string {
	var d []string
	if a.asn != b.asn {
		d = append(d, fmt.Sprintf("AS %d vs %d", a.asn, b.asn))
	}
	if a.localAS != b.localAS {
		d = append(d, fmt.Sprintf("local AS %d vs %d", a.localAS, b.localAS))
	}
	if a.password != b.password || a.hasPassword != b.hasPassword {
		d = append(d, "password")
	}
	if len(d) == 0 {
		d = append(d, "session options")
	}
	return strings.Join(d, ", ")
}

// scope says whether a BGPPeer's node/nodeSelector selects node n.
func (r *renderer) scope(p *v3.BGPPeer, what string) (func(n *nodeInfo) bool, bool) {
	switch {
	case p.Spec.Node != "" && p.Spec.NodeSelector != "":
		r.problem("%s: node and nodeSelector are both set; peer skipped", what)
		return nil, false
	case p.Spec.Node != "":
		return func(n *nodeInfo) bool { return n.name == p.Spec.Node }, true
	case p.Spec.NodeSelector != "":
		sel, err := selector.Parse(p.Spec.NodeSelector)
		if err != nil {
			r.problem("%s: nodeSelector %q: %v; peer skipped", what, p.Spec.NodeSelector, syntaxReason(err))
			return nil, false
		}
		return func(n *nodeInfo) bool { return sel.Evaluate(n.labels) }, true
	}
	return func(*nodeInfo) bool { return true }, true
}

// target is the remote side of a BGPPeer: a peerSelector or a peerIP.
type target struct {
	sel  selector.Selector // peerSelector, or nil
	addr netip.Addr        // peerIP
	port int               // explicit port of peerIP, 0 if none
}

func (r *renderer) target(p *v3.BGPPeer, what string) (target, bool) {
	switch {
	case p.Spec.PeerIP != "" && p.Spec.PeerSelector != "":
		r.problem("%s: peerIP and peerSelector are both set; peer skipped", what)
	case p.Spec.PeerSelector != "":
		sel, err := selector.Parse(p.Spec.PeerSelector)
		if err != nil {
			r.problem("%s: peerSelector %q: %v; peer skipped", what, p.Spec.PeerSelector, syntaxReason(err))
			break
		}
		return target{sel: sel}, true
	case p.Spec.PeerIP != "":
		a, port, ok := parsePeerIP(p.Spec.PeerIP)
		if !ok {
			r.problem("%s: peerIP %q is not an IP address, IPv4:port or [IPv6]:port; peer skipped", what, p.Spec.PeerIP)
			break
		}
		if !a.IsGlobalUnicast() {
			r.problem("%s: peerIP %q is not a unicast address; peer skipped", what, p.Spec.PeerIP)
			break
		}
		return target{addr: a, port: port}, true
	default:
		r.problem("%s: neither peerIP nor peerSelector is set; peer skipped", what)
	}
	return target{}, false
}

func parsePeerIP(s string) (netip.Addr, int, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), 0, true
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" || ap.Port() == 0 {
		return netip.Addr{}, 0, false
	}
	return ap.Addr().Unmap(), int(ap.Port()), true
}

// forward returns the sessions a BGPPeer asks of this node when this node
// is in its node scope.
func (r *renderer) forward(p *v3.BGPPeer) []*session {
	what := fmt.Sprintf("BGPPeer %q", p.Metadata.Name)
	inScope, ok := r.scope(p, what)
	if !ok || !inScope(r.me) {
		return nil
	}
	t, ok := r.target(p, what)
	if !ok {
		return nil
	}
	typ := TypeNode
	if p.Spec.Node == "" && p.Spec.NodeSelector == "" {
		typ = TypeGlobal
	}
	opts, ok := r.peerOptions(p, what)
	if !ok {
		return nil
	}
	localAS := r.me.asn
	if p.Spec.LocalASNumber != nil && *p.Spec.LocalASNumber != 0 {
		localAS = uint32(*p.Spec.LocalASNumber)
	}
	if t.sel != nil {
		if p.Spec.ASNumber != 0 {
			r.problem("%s: asNumber %d is ignored with peerSelector (each node's own AS is used)", what, p.Spec.ASNumber)
		}
		var out []*session
		matched := false
		for _, name := range r.nodeNames {
			n := r.nodes[name]
			if !t.sel.Evaluate(n.labels) {
				continue
			}
			matched = true
			if n == r.me {
				continue // never peer with yourself
			}
			for _, fam := range []int{4, 6} {
				if a := n.addr(fam); a.IsValid() && r.me.addr(fam).IsValid() {
					out = append(out, r.newSession(typ, what, fam, a, n.port, n.asn, localAS, n, opts))
				}
			}
		}
		switch {
		case !matched:
			r.problem("%s: peerSelector %q matches no node; no sessions", what, p.Spec.PeerSelector)
		case len(out) == 0 && !t.sel.Evaluate(r.me.labels):
			r.problem("%s: peerSelector %q matches no node with a BGP address of this node's families; no sessions", what, p.Spec.PeerSelector)
		}
		return out
	}
	fam := familyOf(t.addr)
	if t.addr == r.me.addr(fam) {
		r.problem("%s: peerIP %s is this node's own address; peer skipped", what, t.addr)
		return nil
	}
	if !r.me.addr(fam).IsValid() {
		r.problem("%s: peerIP %s is IPv%d but this node has no IPv%d address (spec.bgp.ipv%dAddress); peer skipped", what, t.addr, fam, fam, fam)
		return nil
	}
	n := r.nodeByAddr(t.addr)
	asn := uint32(p.Spec.ASNumber)
	if asn == 0 {
		if n == nil {
			r.problem("%s: asNumber is required with peerIP %s; peer skipped", what, t.addr)
			return nil
		}
		asn = n.asn
	}
	port := t.port
	if port == 0 {
		port = DefaultPort
		if n != nil {
			port = n.port
		}
	}
	if n != nil && n.asn != asn {
		n = nil // the AS says this is not that Calico node's BGP speaker
	}
	return []*session{r.newSession(typ, what, fam, t.addr, port, asn, localAS, n, opts)}
}

// reverse returns the sessions this node needs because another node's
// BGPPeer points at it (its peerSelector selects this node, or its peerIP
// is this node's address and AS), so that the session has both ends.
// reversePeering: Manual turns this off.
func (r *renderer) reverse(p *v3.BGPPeer) []*session {
	if p.Spec.ReversePeering != nil && *p.Spec.ReversePeering == v3.ReversePeeringManual {
		return nil
	}
	what := fmt.Sprintf("BGPPeer %q", p.Metadata.Name)
	// The forward pass reports what is wrong with the resource itself.
	r.mute = true
	inScope, ok1 := r.scope(p, what)
	t, ok2 := r.target(p, what)
	r.mute = false
	if !ok1 || !ok2 {
		return nil
	}
	families := []int{4, 6}
	if t.sel != nil {
		if !t.sel.Evaluate(r.me.labels) {
			return nil
		}
	} else {
		fam := familyOf(t.addr)
		if t.addr != r.me.addr(fam) ||
			(p.Spec.ASNumber != 0 && uint32(p.Spec.ASNumber) != r.me.asn) ||
			(t.port != 0 && t.port != r.me.port) {
			return nil
		}
		families = []int{fam}
	}
	opts, ok := r.peerOptions(p, what)
	if !ok {
		return nil
	}
	var out []*session
	for _, name := range r.nodeNames {
		n := r.nodes[name]
		if n == r.me || !inScope(n) {
			continue
		}
		asn := n.asn
		if p.Spec.LocalASNumber != nil && *p.Spec.LocalASNumber != 0 {
			asn = uint32(*p.Spec.LocalASNumber)
		}
		for _, fam := range families {
			if a := n.addr(fam); a.IsValid() && r.me.addr(fam).IsValid() {
				out = append(out, r.newSession(TypeNode, what+" (reverse)", fam, a, n.port, asn, r.me.asn, n, opts))
			}
		}
	}
	return out
}

// peerOpts are the session options a BGPPeer sets.
type peerOpts struct {
	password     string
	hasPassword  bool
	noSource     bool
	restart      int
	keepalive    int
	ttlSecurity  int
	allowLocalAS int
	nextHopMode  v3.NextHopMode
	keepNextHop  bool
}

func (r *renderer) peerOptions(p *v3.BGPPeer, what string) (peerOpts, bool) {
	s := &p.Spec
	o := peerOpts{keepNextHop: s.KeepOriginalNextHop}
	if s.Password != nil {
		pw, ok := r.password(what+": spec.password", s.Password)
		if !ok {
			return o, false
		}
		o.password, o.hasPassword = pw, true
	}
	switch s.SourceAddress {
	case "", v3.SourceAddressUseNodeIP:
	case v3.SourceAddressNone:
		o.noSource = true
	default:
		r.problem("%s: sourceAddress %q is not UseNodeIP or None; using UseNodeIP", what, s.SourceAddress)
	}
	o.restart = r.seconds(what+": maxRestartTime", s.MaxRestartTime, 1, 4095)
	o.keepalive = r.seconds(what+": keepaliveTime", s.KeepaliveTime, 1, 65535)
	if s.TTLSecurity != nil && *s.TTLSecurity > 0 {
		o.ttlSecurity = int(*s.TTLSecurity)
	}
	if n := s.NumAllowedLocalASNumbers; n != nil && *n > 0 {
		o.allowLocalAS = int(min(*n, 255))
	}
	if s.NextHopMode != nil {
		switch *s.NextHopMode {
		case v3.NextHopAuto, v3.NextHopSelf, v3.NextHopKeep:
			o.nextHopMode = *s.NextHopMode
		default:
			r.problem("%s: nextHopMode %q is not Auto, Self or Keep; using Auto", what, *s.NextHopMode)
		}
	}
	return o, true
}

// seconds converts an optional duration to whole seconds (rounded up)
// within [lo, hi], reporting values out of range. 0 means unset.
func (r *renderer) seconds(what string, d *v3.Duration, lo, hi int) int {
	if d == nil || d.Duration == 0 {
		return 0
	}
	s := int((d.Duration + time.Second - 1) / time.Second)
	if d.Duration < 0 || s < lo || s > hi {
		c := min(max(s, lo), hi)
		r.problem("%s %s is outside %d-%d s; using %d s", what, d.Duration, lo, hi, c)
		return c
	}
	return s
}

// password resolves a secretKeyRef through Options.Password.
func (r *renderer) password(what string, p *v3.BGPPassword) (string, bool) {
	ref := p.SecretKeyRef
	if ref == nil || ref.Name == "" || ref.Key == "" {
		r.problem("%s: secretKeyRef with name and key is required; peer skipped", what)
		return "", false
	}
	if r.opt.Password == nil {
		r.problem("%s: secret %q key %q: passwords are not supported here; peer skipped (never configured without its password)", what, ref.Name, ref.Key)
		return "", false
	}
	pw, err := r.opt.Password(ref.Name, ref.Key)
	if err != nil {
		r.problem("%s: secret %q key %q: %v; peer skipped (never configured without its password)", what, ref.Name, ref.Key, err)
		return "", false
	}
	if pw == "" || strings.ContainsAny(pw, "\"\n\r\x00") {
		r.problem("%s: secret %q key %q: the password is empty or holds a quote, newline or NUL, which BIRD cannot take; peer skipped", what, ref.Name, ref.Key)
		return "", false
	}
	return pw, true
}

// newSession fills in a session to neighbor a. peer is the Calico node the
// neighbor is, or nil for an external router.
func (r *renderer) newSession(typ, origin string, fam int, a netip.Addr, port int, asn, localAS uint32, peer *nodeInfo, o peerOpts) *session {
	prefix := "Node"
	if typ == TypeGlobal {
		prefix = "Global"
	}
	s := &session{name: protocolName(prefix, a, port), typ: typ, origin: origin}
	s.family, s.addr, s.port, s.asn, s.localAS = fam, a, port, asn, localAS
	s.password, s.hasPassword = o.password, o.hasPassword
	s.restart, s.keepalive, s.ttlSecurity, s.allowLocalAS = o.restart, o.keepalive, o.ttlSecurity, o.allowLocalAS
	s.local = r.me.addr(fam)
	if o.noSource {
		if r.bindNodeIP {
			s.note = "sourceAddress None, but bindMode NodeIP binds every session to the node IP"
		} else {
			s.local = netip.Addr{}
		}
	}
	switch {
	case o.nextHopMode == v3.NextHopSelf:
		s.nextHop = "self"
	case o.nextHopMode == v3.NextHopKeep:
		s.nextHop = "keep"
	case o.keepNextHop && asn != localAS:
		s.nextHop = "keep"
	}
	peerCluster := ""
	if peer != nil {
		s.peerNode = peer.name
		peerCluster = peer.clusterID
		s.passive = a.Compare(r.me.addr(fam)) > 0
	} else {
		s.importAll = true
	}
	if r.me.clusterID != "" && asn == localAS {
		s.reflect = true
		s.rrClient = peerCluster != r.me.clusterID
	}
	return s
}

// mesh returns the node-to-node mesh sessions: one per other node and
// family where both nodes have an address, unless the mesh is off or this
// node is a route reflector (route reflectors are left out of the mesh on
// both sides, as upstream does).
func (r *renderer) mesh() []*session {
	g := r.in.Global
	if g != nil && g.NodeToNodeMeshEnabled != nil && !*g.NodeToNodeMeshEnabled {
		return nil
	}
	if r.me.clusterID != "" {
		return nil
	}
	var o peerOpts
	if g != nil {
		if g.NodeMeshPassword != nil {
			pw, ok := r.password(`BGPConfiguration "default": spec.nodeMeshPassword`, g.NodeMeshPassword)
			if !ok {
				return nil
			}
			o.password, o.hasPassword = pw, true
		}
		o.restart = r.seconds(`BGPConfiguration "default": spec.nodeMeshMaxRestartTime`, g.NodeMeshMaxRestartTime, 1, 4095)
	}
	var out []*session
	for _, name := range r.nodeNames {
		n := r.nodes[name]
		if n == r.me || n.clusterID != "" {
			continue
		}
		for _, fam := range []int{4, 6} {
			a, mine := n.addr(fam), r.me.addr(fam)
			if !a.IsValid() || !mine.IsValid() {
				continue
			}
			if a == mine {
				r.problem("Node %q: spec.bgp.ipv%dAddress %s is this node's own address; no mesh session to it", n.name, fam, a)
				continue
			}
			s := r.newSession(TypeMesh, "node-to-node mesh", fam, a, n.port, n.asn, r.me.asn, n, o)
			s.name = protocolName("Mesh", a, DefaultPort) // upstream: no port in mesh names
			out = append(out, s)
		}
	}
	return out
}

func syntaxReason(err error) string {
	if se, ok := err.(*selector.SyntaxError); ok {
		return fmt.Sprintf("%s at offset %d", se.Reason, se.Offset)
	}
	return err.Error()
}
