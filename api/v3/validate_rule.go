package v3

import (
	"net/netip"
	"slices"
)

// Limits on rules, as upstream enforces them.
const (
	maxRulesPerDirection = 1024
	maxNetsPerEntity     = 256
	maxPortsPerEntity    = 50
)

var protocolNames = []string{ProtocolTCP, ProtocolUDP, ProtocolICMP, ProtocolICMPv6, ProtocolSCTP, ProtocolUDPLite}

// ruleContext says where rules sit, for the checks that depend on it.
type ruleContext struct {
	ingress bool // an ingress rule list
	global  bool // in a GlobalNetworkPolicy (services need a namespace)
}

// rules checks a list of rules.
func (v *validator) rules(path string, rules []Rule, ctx ruleContext) {
	if len(rules) > maxRulesPerDirection {
		v.add(path, nil, "has %d rules; at most %d are allowed", len(rules), maxRulesPerDirection)
	}
	for i := range rules {
		v.rule(idx(path, i), &rules[i], ctx)
	}
}

// protocol checks a protocol: 1-255 or one of the known names.
func (v *validator) protocol(path string, p Protocol) {
	if p.IsNamed() {
		if !slices.Contains(protocolNames, p.Name) {
			v.add(path, p.Name, "must be 1-255 or one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite")
		}
	} else if p.Num == 0 {
		v.add(path, 0, "must be 1-255 or one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite")
	}
}

func (v *validator) rule(path string, r *Rule, ctx ruleContext) {
	switch r.Action {
	case Allow, Deny, Log, Pass:
	case "":
		v.add(path+".action", nil, "is required (Allow, Deny, Log or Pass)")
	default:
		v.add(path+".action", string(r.Action), "must be one of Allow, Deny, Log, Pass")
	}
	if r.IPVersion != nil && *r.IPVersion != 4 && *r.IPVersion != 6 {
		v.add(path+".ipVersion", *r.IPVersion, "must be 4 or 6")
	}
	if r.Protocol != nil {
		v.protocol(path+".protocol", *r.Protocol)
	}
	if r.NotProtocol != nil {
		v.protocol(path+".notProtocol", *r.NotProtocol)
	}
	v.icmp(path+".icmp", r.ICMP, r)
	v.icmp(path+".notICMP", r.NotICMP, r)

	if r.HTTP != nil {
		v.httpMatch(path+".http", r, ctx)
	}
	if r.Metadata != nil {
		v.annotations(path+".metadata.annotations", r.Metadata.Annotations)
	}

	fams := map[int]string{} // family -> first path seen
	v.entity(path+".source", &r.Source, r, fams, ctx, true)
	v.entity(path+".destination", &r.Destination, r, fams, ctx, false)
	if len(fams) == 2 {
		v.add(path, nil, "mixes IPv4 and IPv6 nets (%s and %s)", fams[4], fams[6])
	}
}

// icmp checks ICMP match fields against the rule's protocol and version.
func (v *validator) icmp(path string, f *ICMPFields, r *Rule) {
	if f == nil {
		return
	}
	if f.Type != nil && (*f.Type < 0 || *f.Type > 254) {
		v.add(path+".type", *f.Type, "must be 0-254")
	}
	if f.Code != nil {
		if *f.Code < 0 || *f.Code > 255 {
			v.add(path+".code", *f.Code, "must be 0-255")
		}
		if f.Type == nil {
			v.add(path+".code", *f.Code, "requires a type")
		}
	}
	n := -1
	if r.Protocol != nil {
		if num, ok := r.Protocol.Number(); ok {
			n = int(num)
		}
	}
	switch {
	case n != 1 && n != 58:
		v.add(path, nil, "requires protocol ICMP, ICMPv6, 1 or 58")
	case n == 1 && r.IPVersion != nil && *r.IPVersion != 4:
		v.add(path, nil, "protocol ICMP requires ipVersion 4")
	case n == 58 && r.IPVersion != nil && *r.IPVersion != 6:
		v.add(path, nil, "protocol ICMPv6 requires ipVersion 6")
	}
}

// httpMatch checks HTTP match criteria.
func (v *validator) httpMatch(path string, r *Rule, ctx ruleContext) {
	if r.Action != Allow {
		v.add(path, nil, "is only allowed on Allow rules")
	}
	if !ctx.ingress {
		v.add(path, nil, "is only allowed on ingress rules")
	}
	if r.Protocol != nil {
		if n, ok := r.Protocol.Number(); !ok || n != 6 {
			v.add(path, nil, "requires protocol TCP or no protocol")
		}
	}
	for i, m := range r.HTTP.Methods {
		if m == "" {
			v.add(idx(path+".methods", i), m, "must not be empty")
		}
	}
	for i, p := range r.HTTP.Paths {
		pp := idx(path+".paths", i)
		if (p.Exact == "") == (p.Prefix == "") {
			v.add(pp, nil, "must set exactly one of exact and prefix")
		}
	}
}

// entity checks a rule's source or destination.
func (v *validator) entity(path string, e *EntityRule, r *Rule, fams map[int]string, ctx ruleContext, isSource bool) {
	v.nets(path+".nets", e.Nets, r, fams, false)
	v.nets(path+".notNets", e.NotNets, r, fams, true)
	v.selector(path+".selector", e.Selector, false)
	v.selector(path+".notSelector", e.NotSelector, false)
	v.selector(path+".namespaceSelector", e.NamespaceSelector, true)
	v.ports(path+".ports", e.Ports, r)
	v.ports(path+".notPorts", e.NotPorts, r)
	if sa := e.ServiceAccounts; sa != nil {
		for i, n := range sa.Names {
			if !isSubdomain(n) {
				v.add(idx(path+".serviceAccounts.names", i), n, "not a valid service account name")
			}
		}
		v.selector(path+".serviceAccounts.selector", sa.Selector, false)
	}
	if e.Services != nil {
		v.services(path+".services", e, ctx, isSource)
	}
}

// nets checks a list of strictly masked CIDRs and records their families.
func (v *validator) nets(path string, nets []string, r *Rule, fams map[int]string, negated bool) {
	if len(nets) > maxNetsPerEntity {
		v.add(path, nil, "has %d entries; at most %d are allowed", len(nets), maxNetsPerEntity)
	}
	for i, n := range nets {
		p := idx(path, i)
		pfx, ok := v.cidr(p, n, true)
		if !ok {
			continue
		}
		f := familyOf(pfx.Addr())
		if _, seen := fams[f]; !seen {
			fams[f] = p
		}
		if r.IPVersion != nil && *r.IPVersion != f {
			v.add(p, n, "is IPv%d but the rule's ipVersion is %d", f, *r.IPVersion)
		}
		if negated && pfx.Bits() == 0 {
			v.add(p, n, "notNets may not contain %s (it would match nothing)", netip.PrefixFrom(pfx.Addr(), 0))
		}
	}
}

// ports checks port lists against the rule's protocol.
func (v *validator) ports(path string, ports []Port, r *Rule) {
	if len(ports) > maxPortsPerEntity {
		v.add(path, nil, "has %d entries; at most %d are allowed", len(ports), maxPortsPerEntity)
	}
	for i, pt := range ports {
		p := idx(path, i)
		if pt.PortName != "" {
			if why := portNameProblem(pt.PortName); why != "" {
				v.add(p, pt.PortName, "%s", why)
			}
		} else {
			if pt.MinPort == 0 || pt.MaxPort == 0 {
				v.add(p, pt.String(), "port numbers must be 1-65535")
			}
			if pt.MinPort > pt.MaxPort {
				v.add(p, pt.String(), "range minimum is greater than maximum")
			}
		}
		switch {
		case r.Protocol == nil:
			if pt.PortName == "" {
				v.add(p, pt.String(), "numeric ports require protocol TCP, UDP or SCTP")
			}
		case !r.Protocol.SupportsPorts():
			v.add(p, pt.String(), "protocol %s does not have ports", r.Protocol)
		}
	}
}

// services checks a service match.
func (v *validator) services(path string, e *EntityRule, ctx ruleContext, isSource bool) {
	switch {
	case ctx.ingress && !isSource:
		v.add(path, nil, "ingress rules may match services in source only")
	case !ctx.ingress && isSource:
		v.add(path, nil, "egress rules may match services in destination only")
	}
	if e.Services.Name == "" {
		v.add(path+".name", nil, "is required")
	} else if !isSubdomain(e.Services.Name) {
		v.add(path+".name", e.Services.Name, "not a valid service name")
	}
	if e.Services.Namespace == "" {
		if ctx.global {
			v.add(path+".namespace", nil, "is required in a GlobalNetworkPolicy")
		}
	} else if !isDNSLabel(e.Services.Namespace, maxLabelLen) {
		v.add(path+".namespace", e.Services.Namespace, "not a valid namespace")
	}
	if len(e.Nets) > 0 || len(e.NotNets) > 0 || e.Selector != "" || e.NotSelector != "" ||
		e.NamespaceSelector != "" || e.ServiceAccounts != nil {
		v.add(path, nil, "cannot be combined with nets, notNets, selector, notSelector, namespaceSelector or serviceAccounts")
	}
	if !isSource && (len(e.Ports) > 0 || len(e.NotPorts) > 0) {
		v.add(path, nil, "cannot be combined with ports in destination (the service defines them)")
	}
}
