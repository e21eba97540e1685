package birdcfg

import (
	"fmt"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
)

// writeConfig writes the whole bird.conf. The body is rendered first so
// that the header can list every problem, including those found on the way.
func (r *renderer) writeConfig(out *strings.Builder, routerID string, sessions []*session) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	r.writeGlobals(w, routerID)
	fams := r.families()
	for _, fam := range fams {
		r.writeFilters(w, fam)
	}
	r.writeBaseProtocols(w, fams)
	r.writeSessions(w, sessions)

	h := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	h("# BIRD 2 configuration for node %s, rendered by calico-node from the", comment(r.in.NodeName))
	h("# datastore (Nodes, BGPPeers, BGPConfigurations, IPPools, IPAM block")
	h("# affinities). Do not edit: it is rewritten whenever those change.")
	h("# docs/bgp.md explains it.")
	if len(r.problems) > 0 {
		h("#")
		h("# Problems and notes (what a problem names is left out):")
		for _, p := range r.problems {
			h("#   - %s", comment(p))
		}
	}
	h("")
	out.WriteString(b.String())
}

// families are the address families this node has a BGP address in.
func (r *renderer) families() []int {
	var f []int
	if r.me.addr4.IsValid() {
		f = append(f, 4)
	}
	if r.me.addr6.IsValid() {
		f = append(f, 6)
	}
	return f
}

func (r *renderer) writeGlobals(w func(string, ...any), routerID string) {
	level := r.setting(func(c *v3.BGPConfigurationSpec) string { return c.LogSeverityScreen })
	switch strings.ToLower(level) {
	case "debug":
		w("# logSeverityScreen Debug: everything, with protocol tracing.")
		w("log stderr all;")
		w("debug protocols all;")
	case "", "info":
		w("# logSeverityScreen Info: messages plus protocol state changes.")
		w("log stderr { info, remote, warning, error, auth, fatal, bug, trace };")
		w("debug protocols { states };")
	case "warning":
		w("# logSeverityScreen Warning.")
		w("log stderr { warning, error, auth, fatal, bug };")
	case "error":
		w("# logSeverityScreen Error.")
		w("log stderr { error, auth, fatal, bug };")
	case "fatal", "none":
		w("# logSeverityScreen %s.", comment(level))
		w("log stderr { fatal, bug };")
	default:
		r.problem("BGPConfiguration: spec.logSeverityScreen %q is not Debug, Info, Warning, Error or Fatal; using Info", level)
		w("log stderr { info, remote, warning, error, auth, fatal, bug, trace };")
		w("debug protocols { states };")
	}
	w("")
	if r.me.addr4.IsValid() {
		w("router id %s;", routerID)
	} else {
		w("# This node has no IPv4 BGP address: the router id is a stable 32-bit")
		w("# hash of the node name (FNV-1a), unique as long as node names are.")
		w("router id %s;", routerID)
	}
	w("")
}

// writeFilters writes the functions and filters of one family.
func (r *renderer) writeFilters(w func(string, ...any), fam int) {
	ps := r.pools[fam]
	sfx := fmt.Sprintf("v%d", fam)
	fn := func(name, doc string, keep func(pool) bool) {
		w("# %s", doc)
		w("function %s_%s() {", name, sfx)
		if set := prefixSet(ps, keep); set != "" {
			w("  return net ~ %s;", set)
		} else {
			w("  return false; # none")
		}
		w("}")
		w("")
	}
	w("# ---------------- IPv%d filters ----------------", fam)
	w("")
	if fam == r.families()[0] {
		r.writeWorkloadRoute(w)
	}
	fn("calico_pool", fmt.Sprintf("Inside any IPv%d pool (pools: %s).", fam, poolNames(ps, func(pool) bool { return true })), func(pool) bool { return true })
	fn("calico_export_pool", fmt.Sprintf("Inside an IPv%d pool whose routes are announced (not disableBGPExport): %s.", fam, poolNames(ps, func(p pool) bool { return !p.noBGP })), func(p pool) bool { return !p.noBGP })
	fn("calico_encap_pool", fmt.Sprintf("Inside an IPIP or VXLAN IPv%d pool, whose routes the agent programs itself: %s.", fam, poolNames(ps, func(p pool) bool { return p.encap })), func(p pool) bool { return p.encap })
	r.writeBlockFilters(w, fam)

	w("# To BGP peers: this host's blocks, one route each, and its workload routes")
	w("# outside them (addresses borrowed from another host's block); nothing")
	w("# learned from a peer.")
	w("filter calico_export_%s {", sfx)
	r.writeExportRules(w, sfx)
	w("  reject;")
	w("}")
	w("")
	if r.me.clusterID != "" {
		r.writeReflectFilter(w, sfx)
	}
	w("# From Calico nodes (mesh, route reflectors, peerSelector): pool routes only.")
	w("filter calico_import_%s {", sfx)
	w("  if calico_pool_%s() then accept;", sfx)
	w("  reject;")
	w("}")
	w("")
	w("# To the kernel: routes learned by BGP only (never device routes, the")
	w("# agent's own routes or this node's block routes, whose blackholes the")
	w("# agent programs), except those of IPIP/VXLAN pools.")
	w("filter calico_kernel_%s {", sfx)
	w("  if source != RTS_BGP then reject;")
	w("  if calico_encap_pool_%s() then reject;", sfx)
	w("  accept;")
	w("}")
	w("")
}

// writeWorkloadRoute writes the family-independent test for this host's
// workload routes.
func (r *renderer) writeWorkloadRoute(w func(string, ...any)) {
	var ifs []string
	for _, p := range r.opt.InterfacePrefixes {
		if p == "" || strings.ContainsAny(p, "\"*?\\\n") {
			r.problem("workload interface prefix %q is not a plain interface name prefix; ignored", p)
			continue
		}
		ifs = append(ifs, fmt.Sprintf("ifname ~ %s", quoted(p+"*")))
	}
	w("# A route of this host's workloads, as the agent programs it: learned from")
	w("# the kernel (source RTS_INHERIT; BIRD keeps the kernel's route protocol in")
	w("# krt_source), route protocol %d, through a workload interface.", r.opt.RouteProtocol)
	w("function calico_workload_route() {")
	w("  if source != RTS_INHERIT then return false;")
	w("  if krt_source != %d then return false;", r.opt.RouteProtocol)
	if len(ifs) == 0 {
		w("  return false;")
	} else {
		w("  return %s;", strings.Join(ifs, " || "))
	}
	w("}")
	w("")
}

func poolNames(ps []pool, keep func(pool) bool) string {
	var n []string
	for _, p := range ps {
		if keep(p) {
			n = append(n, fmt.Sprintf("%s %s", comment(p.name), p.cidr))
		}
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

func (r *renderer) writeBaseProtocols(w func(string, ...any), fams []int) {
	w("# ---------------- Interfaces and kernel ----------------")
	w("")
	w("# Interfaces come from netlink notifications; the scan is a fallback.")
	w("protocol device {")
	w("  scan time 10;")
	w("}")
	if len(fams) == 0 {
		return
	}
	w("")
	pats := []string{}
	for _, p := range r.opt.InterfacePrefixes {
		if p != "" && !strings.ContainsAny(p, "\"*?\\\n") {
			pats = append(pats, "-"+quoted(p+"*"))
		}
	}
	pats = append(pats, `-"kube-ipvs*"`)
	ignored := r.in.Global
	if r.in.PerNode != nil && len(r.in.PerNode.IgnoredInterfaces) > 0 {
		ignored = r.in.PerNode
	}
	if ignored != nil {
		for _, i := range ignored.IgnoredInterfaces {
			if i == "" || strings.ContainsAny(i, "\"\\\n") {
				r.problem("BGPConfiguration: spec.ignoredInterfaces %q is not an interface name or pattern; ignored", i)
				continue
			}
			pats = append(pats, "-"+quoted(i))
		}
	}
	pats = append(pats, `"*"`)
	w("# Connected subnets of the host's own interfaces (not workload interfaces):")
	w("# BGP next hops are resolved recursively (gateway recursive) against the")
	w("# routing table, which works for peers on the same subnet (these routes) and")
	w("# for peers behind a router (the host's routes learned from the kernel).")
	w("# They are neither announced nor written back to the kernel.")
	w("protocol direct calico_direct {")
	for _, fam := range fams {
		w("  ipv%d;", fam)
	}
	w("  interface %s;", strings.Join(pats, ", "))
	w("}")
	for _, fam := range fams {
		w("")
		w("# Kernel routing table, IPv%d. learn: take routes other programs put in the", fam)
		w("# kernel (the agent's workload routes; the host's routes for next-hop")
		w("# resolution). persist: leave BIRD's routes in the kernel when BIRD stops,")
		w("# and graceful restart: keep them until BGP has converged after a restart.")
		w("protocol kernel kernel_v%d {", fam)
		w("  ipv%d {", fam)
		w("    import all;")
		w("    export filter calico_kernel_v%d;", fam)
		w("  };")
		w("  learn;")
		w("  persist;")
		w("  scan time 10;")
		w("  graceful restart on;")
		w("  merge paths on;")
		w("}")
	}
	for _, fam := range fams {
		r.writeBlockProtocol(w, fam)
	}
}

func (r *renderer) writeSessions(w func(string, ...any), sessions []*session) {
	section := ""
	for _, s := range sessions {
		if s.typ != section {
			section = s.typ
			w("")
			w("# ---------------- BGP: %s ----------------", s.typ)
		}
		r.writeSession(w, s)
	}
	if len(sessions) == 0 {
		w("")
		w("# No BGP sessions.")
	}
}

func (r *renderer) writeSession(w func(string, ...any), s *session) {
	kind := "iBGP"
	if !s.ibgp() {
		kind = "eBGP"
	}
	who := "external router"
	if s.peerNode != "" {
		who = "node " + s.peerNode
	}
	w("")
	w("# %s, %s, %s.", comment(s.origin), comment(who), kind)
	if s.note != "" {
		w("# %s.", comment(s.note))
	}
	w("protocol bgp %s {", s.name)
	w("  description %s;", quoted(fmt.Sprintf("%s: %s", s.typ, who)))
	local := "local"
	if s.local.IsValid() {
		local += " " + s.local.String()
	}
	if p := r.me.port; p != DefaultPort {
		local += fmt.Sprintf(" port %d", p)
	}
	w("  %s as %d;", local, s.localAS)
	w("  neighbor %s port %d as %d;", s.addr, s.port, s.asn)
	if r.bindNodeIP && s.local.IsValid() {
		w("  strict bind on; # bindMode NodeIP: listen on the node IP only")
	}
	if s.ttlSecurity > 0 {
		w("  ttl security on;")
		w("  multihop %d;", s.ttlSecurity)
	} else {
		w("  multihop;")
	}
	if s.passive {
		w("  passive on; # the node with the higher address connects")
	}
	if s.hasPassword {
		w("  password %s;", quoted(s.password))
	}
	w("  graceful restart on;")
	if s.restart > 0 {
		w("  graceful restart time %d;", s.restart)
	}
	if s.keepalive > 0 {
		w("  keepalive time %d;", s.keepalive)
		if hold := 3 * s.keepalive; hold > 240 {
			w("  hold time %d;", min(hold, 65535))
		}
	}
	if s.allowLocalAS > 0 {
		w("  allow local as %d;", s.allowLocalAS)
	}
	if s.rrClient {
		w("  rr client;")
		w("  rr cluster id %s;", r.me.clusterID)
	}
	w("  connect delay time 1;")
	w("  connect retry time 3;")
	w("  error wait time 5, 30;")
	sfx := fmt.Sprintf("v%d", s.family)
	w("  ipv%d {", s.family)
	w("    gateway recursive;")
	if s.importAll {
		w("    import all; # an external router: take its routes")
	} else {
		w("    import filter calico_import_%s;", sfx)
	}
	if s.reflect {
		w("    export filter calico_export_rr_%s;", sfx)
	} else {
		w("    export filter calico_export_%s;", sfx)
	}
	if s.nextHop != "" {
		w("    next hop %s;", s.nextHop)
	}
	w("  };")
	w("}")
}

// writeExportRules writes the accepting rules of the export filters:
// the node's block routes, and its workload routes outside its blocks.
func (r *renderer) writeExportRules(w func(string, ...any), sfx string) {
	w("  if calico_block_route_%s() && calico_export_pool_%s() then accept;", sfx, sfx)
	w("  if calico_workload_route() && calico_export_pool_%s() && !calico_own_block_%s() then accept;", sfx, sfx)
}

// writeReflectFilter writes the export filter of a route reflector's iBGP
// sessions.
func (r *renderer) writeReflectFilter(w func(string, ...any), sfx string) {
	w("# To iBGP peers of a route reflector: this host's workload routes, and")
	w("# routes learned by BGP, which BIRD reflects by the iBGP rules (to clients")
	w("# everything, to non-clients what came from clients).")
	w("filter calico_export_rr_%s {", sfx)
	r.writeExportRules(w, sfx)
	w("  if source = RTS_BGP then accept;")
	w("  reject;")
	w("}")
	w("")
}
