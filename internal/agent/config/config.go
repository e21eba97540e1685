// Package config computes the agent's effective configuration from the
// FelixConfiguration resources "default" and "node.<nodename>".
package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
)

// RouteProtocol is the route protocol number the agent marks its workload
// routes with unless FelixConfiguration deviceRouteProtocol names another.
//
// Upstream Felix defaults deviceRouteProtocol to 3 (RTPROT_BOOT) for
// workload device routes, but 3 is also what `ip route add` uses when no
// protocol is given, so a route added by hand would look like Felix's and
// be pruned. Upstream itself uses 80 for the routes it owns outright
// (dataplanedefs.DefaultRouteProto, e.g. VXLAN routes) and maps a
// deviceRouteProtocol of 3 to 80 for them. This agent does the same for
// workload routes: 3 (or unset) means 80; any other valid value is used
// as given.
const RouteProtocol = 80

// upstreamDefaultDeviceRouteProtocol is RTPROT_BOOT, upstream's default.
const upstreamDefaultDeviceRouteProtocol = 3

// Config is the agent's effective configuration.
type Config struct {
	// InterfacePrefixes are the name prefixes of the interfaces the agent
	// owns (upstream interfacePrefix, a comma-separated list).
	InterfacePrefixes []string
	// ReportingInterval is how often agent liveness is written (0: never).
	ReportingInterval time.Duration
	// ReportingTTL is the lease TTL of the liveness key.
	ReportingTTL time.Duration
	// EndpointReportingEnabled turns per-endpoint status reports on.
	EndpointReportingEnabled bool
	// EndpointReportingDelay rate-limits per-endpoint status reports.
	EndpointReportingDelay time.Duration
	// RouteRefreshInterval is the period of the full dataplane resync
	// (0: no periodic resync).
	RouteRefreshInterval time.Duration
	// LogSeverityScreen is the upstream log level name (Info, Debug, ...).
	LogSeverityScreen string
	HealthEnabled     bool
	HealthHost        string
	HealthPort        int
	// PrometheusMetricsEnabled serves /metrics on
	// PrometheusMetricsHost:PrometheusMetricsPort.
	PrometheusMetricsEnabled bool
	PrometheusMetricsHost    string
	PrometheusMetricsPort    int
	// OpenStackRegion names the region; see Region.
	OpenStackRegion string
	// DeviceRouteProtocol is the configured deviceRouteProtocol.
	DeviceRouteProtocol int
	// RouteProtocol is the protocol the agent's routes carry, derived
	// from DeviceRouteProtocol (see the package constant RouteProtocol).
	RouteProtocol int
	// IPv6Support turns IPv6 programming on.
	IPv6Support bool
	// IPForwarding turns host-wide forwarding on (upstream ipForwarding
	// "Enabled", the default).
	IPForwarding bool
	// DefaultEndpointToHostAction is what happens to traffic from a
	// workload to its own host once the workload's egress policy
	// allowed it: "Drop" (upstream's default), "Return" (host endpoint
	// policy decides) or "Accept".
	DefaultEndpointToHostAction string
	// WorkloadSourceSpoofing is upstream's workloadSourceSpoofing "Any":
	// a workload may send from the extra prefixes its endpoint lists in
	// allowSpoofedSourcePrefixes. Off ("Disabled", the default), that
	// field is ignored.
	WorkloadSourceSpoofing bool
	// FailsafeInbound and FailsafeOutbound are the host ports that host
	// endpoint policy never blocks, so that an operator cannot lock
	// themselves out.
	FailsafeInbound, FailsafeOutbound []ProtoPort
	// GoGCThreshold is the Go runtime's GC percentage (upstream's
	// default 40; -1 turns the collector off); GoMemoryLimitMB its soft
	// memory limit (-1: none).
	GoGCThreshold, GoMemoryLimitMB int
	// DebugMemoryProfilePath is where a heap profile is written when the
	// process gets SIGUSR1 ("": never).
	DebugMemoryProfilePath string
}

// ProtoPort is one failsafe port: protocol number (6, 17 or 132), port,
// and the remote prefix it is limited to (invalid: any).
type ProtoPort struct {
	Proto uint8
	Port  uint16
	Net   netip.Prefix
}

// Upstream's default failsafe ports: SSH, DHCP, BGP, etcd, Typha, the
// Kubernetes API and kube-proxy health; DNS and DHCP outbound.
var (
	DefaultFailsafeInbound = []ProtoPort{
		{Proto: 6, Port: 22}, {Proto: 17, Port: 68}, {Proto: 6, Port: 179}, {Proto: 6, Port: 2379},
		{Proto: 6, Port: 2380}, {Proto: 6, Port: 5473}, {Proto: 6, Port: 6443}, {Proto: 6, Port: 6666}, {Proto: 6, Port: 6667},
	}
	DefaultFailsafeOutbound = []ProtoPort{
		{Proto: 17, Port: 53}, {Proto: 17, Port: 67}, {Proto: 6, Port: 179}, {Proto: 6, Port: 2379},
		{Proto: 6, Port: 2380}, {Proto: 6, Port: 5473}, {Proto: 6, Port: 6443}, {Proto: 6, Port: 6666}, {Proto: 6, Port: 6667},
	}
)

// Default returns the configuration used when no FelixConfiguration sets
// a field. Values are upstream's, except that metrics listen on loopback.
func Default() Config {
	return Config{
		InterfacePrefixes:        []string{"cali"},
		ReportingInterval:        30 * time.Second,
		ReportingTTL:             90 * time.Second,
		EndpointReportingEnabled: false,
		EndpointReportingDelay:   time.Second,
		RouteRefreshInterval:     90 * time.Second,
		LogSeverityScreen:        "Info",
		HealthEnabled:            true, // loopback only; upstream manifests enable it too
		HealthHost:               "localhost",
		HealthPort:               9099,
		PrometheusMetricsEnabled: false,
		// Upstream listens on all addresses; this project keeps both
		// the health and metrics endpoints on loopback by default.
		PrometheusMetricsHost: "127.0.0.1",
		PrometheusMetricsPort: 9091,
		DeviceRouteProtocol:   upstreamDefaultDeviceRouteProtocol,
		RouteProtocol:         RouteProtocol,
		IPv6Support:           true,
		IPForwarding:          true,

		DefaultEndpointToHostAction: "Drop",
		GoGCThreshold:               40,
		GoMemoryLimitMB:             -1,
		FailsafeInbound:             slices.Clone(DefaultFailsafeInbound),
		FailsafeOutbound:            slices.Clone(DefaultFailsafeOutbound),
	}
}

// Effective layers node over global over Default, field by field: a field
// set in node wins, then one set in global. Either spec may be nil.
// Values that cannot be used (they may have been written by another
// tool without validation) keep the lower layer's value and are returned
// as problems, one sentence each, naming the resource and field.
func Effective(global, node *v3.FelixConfigurationSpec) (Config, []string) {
	c := Default()
	var problems []string
	for _, l := range []struct {
		name string
		spec *v3.FelixConfigurationSpec
	}{{"default", global}, {"node.<nodename>", node}} {
		if l.spec != nil {
			problems = append(problems, c.apply(l.name, l.spec)...)
		}
	}
	return c, problems
}

// apply overlays the fields set in s onto c.
func (c *Config) apply(layer string, s *v3.FelixConfigurationSpec) []string {
	var problems []string
	bad := func(field string, val any, why string) {
		problems = append(problems, fmt.Sprintf("FelixConfiguration %s: spec.%s %v: %s; value ignored", layer, field, val, why))
	}
	if s.InterfacePrefix != "" {
		if p, ok := ParsePrefixes(s.InterfacePrefix); ok {
			c.InterfacePrefixes = p
		} else {
			bad("interfacePrefix", fmt.Sprintf("%q", s.InterfacePrefix), "not a comma-separated list of interface name prefixes")
		}
	}
	dur := func(field string, d *v3.Duration, dst *time.Duration) {
		if d == nil {
			return
		}
		if d.Duration < 0 {
			bad(field, d.Duration, "must not be negative")
			return
		}
		*dst = d.Duration
	}
	dur("reportingInterval", s.ReportingInterval, &c.ReportingInterval)
	dur("reportingTTL", s.ReportingTTL, &c.ReportingTTL)
	dur("endpointReportingDelay", s.EndpointReportingDelay, &c.EndpointReportingDelay)
	dur("routeRefreshInterval", s.RouteRefreshInterval, &c.RouteRefreshInterval)
	boolean := func(b *bool, dst *bool) {
		if b != nil {
			*dst = *b
		}
	}
	boolean(s.EndpointReportingEnabled, &c.EndpointReportingEnabled)
	boolean(s.HealthEnabled, &c.HealthEnabled)
	boolean(s.PrometheusMetricsEnabled, &c.PrometheusMetricsEnabled)
	boolean(s.IPv6Support, &c.IPv6Support)
	if s.LogSeverityScreen != "" {
		if lvl, ok := canonicalLevel(s.LogSeverityScreen); ok {
			c.LogSeverityScreen = lvl
		} else {
			bad("logSeverityScreen", fmt.Sprintf("%q", s.LogSeverityScreen), "not one of Trace, Debug, Info, Warning, Error, Fatal")
		}
	}
	if s.HealthHost != nil && *s.HealthHost != "" {
		c.HealthHost = *s.HealthHost
	}
	if s.PrometheusMetricsHost != "" {
		c.PrometheusMetricsHost = s.PrometheusMetricsHost
	}
	port := func(field string, p *int, dst *int) {
		if p == nil {
			return
		}
		if *p < 1 || *p > 65535 {
			bad(field, *p, "not a port number (1-65535)")
			return
		}
		*dst = *p
	}
	port("healthPort", s.HealthPort, &c.HealthPort)
	port("prometheusMetricsPort", s.PrometheusMetricsPort, &c.PrometheusMetricsPort)
	if s.OpenstackRegion != "" {
		c.OpenStackRegion = s.OpenstackRegion
	}
	if p := s.DeviceRouteProtocol; p != nil {
		if rp, ok := routeProtocolFor(*p); ok {
			c.DeviceRouteProtocol, c.RouteProtocol = *p, rp
		} else {
			bad("deviceRouteProtocol", *p, "reserved by the kernel or out of range (use 3-255)")
		}
	}
	if a := s.DefaultEndpointToHostAction; a != "" {
		switch strings.ToLower(a) {
		case "drop":
			c.DefaultEndpointToHostAction = "Drop"
		case "return":
			c.DefaultEndpointToHostAction = "Return"
		case "accept":
			c.DefaultEndpointToHostAction = "Accept"
		default:
			bad("defaultEndpointToHostAction", fmt.Sprintf("%q", a), "not Drop, Return or Accept")
		}
	}
	switch a := s.WorkloadSourceSpoofing; strings.ToLower(a) {
	case "":
	case "any":
		c.WorkloadSourceSpoofing = true
	case "disabled":
		c.WorkloadSourceSpoofing = false
	default:
		bad("workloadSourceSpoofing", fmt.Sprintf("%q", a), "not Disabled or Any")
	}
	failsafe := func(field string, in *[]v3.ProtoPort, dst *[]ProtoPort) {
		if in == nil {
			return
		}
		out := []ProtoPort{}
		for i, p := range *in {
			pp := ProtoPort{Port: p.Port}
			switch strings.ToUpper(p.Protocol) {
			case "", "TCP":
				pp.Proto = 6
			case "UDP":
				pp.Proto = 17
			case "SCTP":
				pp.Proto = 132
			default:
				bad(fmt.Sprintf("%s[%d].protocol", field, i), fmt.Sprintf("%q", p.Protocol), "not TCP, UDP or SCTP")
				return
			}
			if p.Net != "" {
				n, err := netip.ParsePrefix(p.Net)
				if err != nil {
					bad(fmt.Sprintf("%s[%d].net", field, i), fmt.Sprintf("%q", p.Net), "not a CIDR")
					return
				}
				pp.Net = n.Masked()
			}
			out = append(out, pp)
		}
		*dst = out
	}
	goInt := func(field string, p *int, dst *int) {
		if p == nil {
			return
		}
		if *p < -1 {
			bad(field, *p, "must be -1 or more")
			return
		}
		*dst = *p
	}
	if s.DebugMemoryProfilePath != "" {
		c.DebugMemoryProfilePath = s.DebugMemoryProfilePath
	}
	goInt("goGCThreshold", s.GoGCThreshold, &c.GoGCThreshold)
	goInt("goMemoryLimitMB", s.GoMemoryLimitMB, &c.GoMemoryLimitMB)
	failsafe("failsafeInboundHostPorts", s.FailsafeInboundHostPorts, &c.FailsafeInbound)
	failsafe("failsafeOutboundHostPorts", s.FailsafeOutboundHostPorts, &c.FailsafeOutbound)
	switch s.IPForwarding {
	case "":
	case "Enabled":
		c.IPForwarding = true
	case "Disabled":
		c.IPForwarding = false
	default:
		bad("ipForwarding", fmt.Sprintf("%q", s.IPForwarding), "not Enabled or Disabled")
	}
	return problems
}

// routeProtocolFor maps a deviceRouteProtocol to the protocol the agent
// programs. 0 (unspec), 1 (redirect) and 2 (kernel) are the kernel's.
func routeProtocolFor(p int) (int, bool) {
	switch {
	case p < 3 || p > 255:
		return 0, false
	case p == upstreamDefaultDeviceRouteProtocol:
		return RouteProtocol, true
	}
	return p, true
}

// ParsePrefixes splits a comma-separated interfacePrefix value. Blanks
// around entries are ignored; ok is false when no usable prefix remains
// or an entry is not a possible interface name prefix.
func ParsePrefixes(s string) (prefixes []string, ok bool) {
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if len(p) > 15 || strings.ContainsAny(p, "/ \t\n") {
			return nil, false
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, len(prefixes) > 0
}

// MatchesInterface reports whether name starts with one of the configured
// prefixes: such interfaces are the agent's to manage.
func (c *Config) MatchesInterface(name string) bool {
	for _, p := range c.InterfacePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Region is the status key segment for this agent: "no-region", or
// "region-<openstackRegion>".
func (c *Config) Region() string {
	if c.OpenStackRegion == "" {
		return "no-region"
	}
	return "region-" + c.OpenStackRegion
}

// LogLevel maps LogSeverityScreen to a slog level. Trace is Debug-4;
// Fatal is Error+4.
func (c *Config) LogLevel() slog.Level {
	switch c.LogSeverityScreen {
	case "Trace":
		return slog.LevelDebug - 4
	case "Debug":
		return slog.LevelDebug
	case "Warning":
		return slog.LevelWarn
	case "Error":
		return slog.LevelError
	case "Fatal":
		return slog.LevelError + 4
	}
	return slog.LevelInfo
}

var levels = []string{"Trace", "Debug", "Info", "Warning", "Error", "Fatal"}

// canonicalLevel matches upstream's level names case-insensitively
// ("warn" is accepted for Warning).
func canonicalLevel(s string) (string, bool) {
	if strings.EqualFold(s, "warn") {
		return "Warning", true
	}
	for _, l := range levels {
		if strings.EqualFold(s, l) {
			return l, true
		}
	}
	return "", false
}

// Equal reports whether two configurations are the same.
func (c *Config) Equal(o *Config) bool {
	a, b := *c, *o
	if !slices.Equal(a.InterfacePrefixes, b.InterfacePrefixes) {
		return false
	}
	if !slices.Equal(a.FailsafeInbound, b.FailsafeInbound) || !slices.Equal(a.FailsafeOutbound, b.FailsafeOutbound) {
		return false
	}
	a.InterfacePrefixes, b.InterfacePrefixes = nil, nil
	a.FailsafeInbound, b.FailsafeInbound = nil, nil
	a.FailsafeOutbound, b.FailsafeOutbound = nil, nil
	return reflect.DeepEqual(a, b)
}
