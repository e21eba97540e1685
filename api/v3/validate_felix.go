package v3

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	felixLogLevels    = []string{"Trace", "Debug", "Info", "Warning", "Error", "Fatal"}
	interfacePrefixRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,15}(,[a-zA-Z0-9_-]{1,15})*$`)
)

// Reserved kernel routing tables (local, main, default) that Calico's
// route table ranges must avoid.
const (
	firstReservedTable = 253
	lastReservedTable  = 255
	maxRouteTableRange = 250
)

// felixConfiguration checks a FelixConfiguration spec.
func (v *validator) felixConfiguration(s *FelixConfigurationSpec) {
	// Upstream matches these case-insensitively (CRD patterns with (?i)).
	for _, e := range []struct {
		path, val string
		allowed   []string
	}{
		{"spec.defaultEndpointToHostAction", s.DefaultEndpointToHostAction, []string{"Drop", "Return", "Accept"}},
		{"spec.chainInsertMode", s.ChainInsertMode, []string{"Insert", "Append"}},
		{"spec.iptablesFilterAllowAction", s.IptablesFilterAllowAction, []string{"Accept", "Return"}},
		{"spec.iptablesMangleAllowAction", s.IptablesMangleAllowAction, []string{"Accept", "Return"}},
		{"spec.iptablesFilterDenyAction", s.IptablesFilterDenyAction, []string{"Drop", "Reject"}},
		{"spec.nftablesFilterAllowAction", s.NftablesFilterAllowAction, []string{"Accept", "Return"}},
		{"spec.nftablesMangleAllowAction", s.NftablesMangleAllowAction, []string{"Accept", "Return"}},
		{"spec.nftablesFilterDenyAction", s.NftablesFilterDenyAction, []string{"Drop", "Reject"}},
		{"spec.logSeverityScreen", s.LogSeverityScreen, felixLogLevels},
		{"spec.logSeverityFile", s.LogSeverityFile, felixLogLevels},
		{"spec.logSeveritySys", s.LogSeveritySys, append([]string{"None"}, felixLogLevels...)},
		{"spec.bpfLogLevel", s.BPFLogLevel, []string{"Off", "Info", "Debug"}},
		{"spec.bpfExternalServiceMode", s.BPFExternalServiceMode, []string{"Tunnel", "DSR"}},
		{"spec.bpfEnforceRPF", s.BPFEnforceRPF, []string{"Disabled", "Strict", "Loose"}},
		{"spec.bpfMapSizeConntrackScaling", s.BPFMapSizeConntrackScaling, []string{"Disabled", "DoubleIfFull"}},
		{"spec.routeSource", s.RouteSource, []string{"WorkloadIPs", "CalicoIPAM"}},
		{"spec.serviceLoopPrevention", s.ServiceLoopPrevention, []string{"Drop", "Reject", "Disabled"}},
		{"spec.workloadSourceSpoofing", s.WorkloadSourceSpoofing, []string{"Disabled", "Any"}},
	} {
		v.oneOfFold(e.path, e.val, e.allowed...)
	}
	if s.IptablesBackend != nil {
		v.oneOfFold("spec.iptablesBackend", *s.IptablesBackend, "Legacy", "NFT", "Auto")
	}
	v.oneOf("spec.ipForwarding", s.IPForwarding, "Enabled", "Disabled")
	v.oneOf("spec.bpfConntrackLogLevel", s.BPFConntrackLogLevel, "Off", "Debug")
	v.oneOf("spec.bpfRedirectToPeer", s.BPFRedirectToPeer, "Enabled", "Disabled", "L2Only")
	v.oneOf("spec.bpfProfiling", s.BPFProfiling, "Enabled", "Disabled")
	for _, e := range []struct {
		path    string
		val     *string
		allowed []string
	}{
		{"spec.nftablesMode", s.NFTablesMode, []string{"Enabled", "Disabled", "Auto"}},
		{"spec.bpfConntrackMode", s.BPFConntrackCleanupMode, []string{"Auto", "Userspace", "BPFProgram"}},
		{"spec.bpfHostNetworkedNATWithoutCTLB", s.BPFHostNetworkedNATWithoutCTLB, []string{"Enabled", "Disabled"}},
		{"spec.flowLogsPolicyEvaluationMode", s.FlowLogsPolicyEvaluationMode, []string{"None", "Continuous"}},
		{"spec.flowLogsLocalReporter", s.FlowLogsLocalReporter, []string{"Enabled", "Disabled"}},
		{"spec.windowsManageFirewallRules", s.WindowsManageFirewallRules, []string{"Enabled", "Disabled"}},
		{"spec.bpfConnectTimeLoadBalancing", s.BPFConnectTimeLoadBalancing, []string{"TCP", "Enabled", "Disabled"}},
		{"spec.floatingIPs", s.FloatingIPs, []string{"Enabled", "Disabled"}},
		{"spec.natOutgoingExclusions", s.NATOutgoingExclusions, []string{"IPPoolsOnly", "IPPoolsAndHostIPs"}},
		{"spec.programClusterRoutes", s.ProgramClusterRoutes, []string{"Enabled", "Disabled"}},
		{"spec.awsSrcDstCheck", s.AWSSrcDstCheck, []string{"DoNothing", "Enable", "Disable"}},
	} {
		if e.val != nil {
			v.oneOf(e.path, *e.val, e.allowed...)
			if *e.val == "" {
				v.add(e.path, "", "must be one of %s", strings.Join(e.allowed, ", "))
			}
		}
	}
	if s.InterfacePrefix != "" && !interfacePrefixRE.MatchString(s.InterfacePrefix) {
		v.add("spec.interfacePrefix", s.InterfacePrefix, "must be a comma-separated list of interface name prefixes")
	}
	if s.OpenstackRegion != "" && !isDNSLabel(s.OpenstackRegion, 46) {
		v.add("spec.openstackRegion", s.OpenstackRegion, "must be a DNS label of at most 46 characters")
	}
	for _, p := range []struct {
		path string
		n    *int
	}{
		{"spec.metadataPort", s.MetadataPort}, {"spec.healthPort", s.HealthPort},
		{"spec.prometheusMetricsPort", s.PrometheusMetricsPort}, {"spec.vxlanPort", s.VXLANPort},
		{"spec.wireguardListeningPort", s.WireguardListeningPort},
		{"spec.wireguardListeningPortV6", s.WireguardListeningPortV6}, {"spec.debugPort", s.DebugPort},
	} {
		v.intRange(p.path, p.n, 0, 65535)
	}
	for _, p := range []struct {
		path string
		n    *int
	}{
		{"spec.ipipMTU", s.IPIPMTU}, {"spec.vxlanMTU", s.VXLANMTU}, {"spec.vxlanMTUV6", s.VXLANMTUV6},
		{"spec.wireguardMTU", s.WireguardMTU}, {"spec.wireguardMTUV6", s.WireguardMTUV6},
	} {
		v.intRange(p.path, p.n, 0, 65535)
	}
	v.intRange("spec.vxlanVNI", s.VXLANVNI, 0, 1<<24-1)
	v.intRange("spec.deviceRouteProtocol", s.DeviceRouteProtocol, 0, 255)
	v.intRange("spec.maxIpsetSize", s.MaxIpsetSize, 0, 1<<31-1)
	v.intRange("spec.wireguardRoutingRulePriority", s.WireguardRoutingRulePriority, 1, 32765)
	v.intRange("spec.bpfExtToServiceConnmark", s.BPFExtToServiceConnmark, 0, 1<<32-1)
	v.intRange("spec.bpfMapSizeConntrackCleanupQueue", s.BPFMapSizeConntrackCleanupQueue, 1, 1<<31-1)
	v.intRange("spec.goGCThreshold", s.GoGCThreshold, -1, 1<<31-1)
	v.intRange("spec.goMemoryLimitMB", s.GoMemoryLimitMB, -1, 1<<31-1)
	v.intRange("spec.goMaxProcs", s.GoMaxProcs, -1, 1<<31-1)
	for _, l := range []struct {
		path  string
		cidrs *[]string
	}{
		{"spec.externalNodesList", s.ExternalNodesCIDRList},
		{"spec.bpfDSROptoutCIDRs", s.BPFDSROptoutCIDRs},
		{"spec.bpfExcludeCIDRsFromNAT", s.BPFExcludeCIDRsFromNAT},
	} {
		if l.cidrs != nil {
			for i, c := range *l.cidrs {
				v.cidr(idx(l.path, i), c, false)
			}
		}
	}
	v.failsafe("spec.failsafeInboundHostPorts", s.FailsafeInboundHostPorts)
	v.failsafe("spec.failsafeOutboundHostPorts", s.FailsafeOutboundHostPorts)
	v.numericRange("spec.natPortRange", s.NATPortRange)
	v.numericRange("spec.bpfPSNATPorts", s.BPFPSNATPorts)
	if s.KubeNodePortRanges != nil {
		if len(*s.KubeNodePortRanges) > 7 {
			v.add("spec.kubeNodePortRanges", nil, "at most 7 ranges are allowed")
		}
		for i, p := range *s.KubeNodePortRanges {
			v.numericRange(idx("spec.kubeNodePortRanges", i), &p)
		}
	}
	if s.NATOutgoingAddress != "" {
		v.ip("spec.natOutgoingAddress", s.NATOutgoingAddress, 4)
	}
	if s.DeviceRouteSourceAddress != "" {
		v.ip("spec.deviceRouteSourceAddress", s.DeviceRouteSourceAddress, 4)
	}
	if s.DeviceRouteSourceAddressIPv6 != "" {
		v.ip("spec.deviceRouteSourceAddressIPv6", s.DeviceRouteSourceAddressIPv6, 6)
	}
	v.routeTables(s)
	for i, h := range s.HealthTimeoutOverrides {
		p := idx("spec.healthTimeoutOverrides", i)
		if h.Name == "" {
			v.add(p+".name", nil, "is required")
		}
		v.duration(p+".timeout", &h.Timeout)
	}
	for _, d := range []struct {
		path string
		d    *Duration
	}{
		{"spec.dataplaneWatchdogTimeout", s.DataplaneWatchdogTimeout},
		{"spec.routeRefreshInterval", s.RouteRefreshInterval},
		{"spec.interfaceRefreshInterval", s.InterfaceRefreshInterval},
		{"spec.iptablesRefreshInterval", s.IptablesRefreshInterval},
		{"spec.iptablesPostWriteCheckInterval", s.IptablesPostWriteCheckInterval},
		{"spec.iptablesLockTimeout", s.IptablesLockTimeout},
		{"spec.iptablesLockProbeInterval", s.IptablesLockProbeInterval},
		{"spec.ipsetsRefreshInterval", s.IpsetsRefreshInterval},
		{"spec.xdpRefreshInterval", s.XDPRefreshInterval},
		{"spec.netlinkTimeout", s.NetlinkTimeout},
		{"spec.reportingInterval", s.ReportingInterval},
		{"spec.reportingTTL", s.ReportingTTL},
		{"spec.endpointReportingDelay", s.EndpointReportingDelay},
		{"spec.usageReportingInitialDelay", s.UsageReportingInitialDelay},
		{"spec.usageReportingInterval", s.UsageReportingInterval},
		{"spec.nftablesRefreshInterval", s.NftablesRefreshInterval},
		{"spec.bpfKubeProxyMinSyncPeriod", s.BPFKubeProxyMinSyncPeriod},
		{"spec.debugSimulateCalcGraphHangAfter", s.DebugSimulateCalcGraphHangAfter},
		{"spec.debugSimulateDataplaneHangAfter", s.DebugSimulateDataplaneHangAfter},
		{"spec.debugSimulateDataplaneApplyDelay", s.DebugSimulateDataplaneApplyDelay},
		{"spec.flowLogsFlushInterval", s.FlowLogsFlushInterval},
		{"spec.wireguardKeepAlive", s.WireguardKeepAlive},
	} {
		v.duration(d.path, d.d)
	}
}

// failsafe checks failsafe port entries.
func (v *validator) failsafe(path string, ports *[]ProtoPort) {
	if ports == nil {
		return
	}
	for i, p := range *ports {
		pp := idx(path, i)
		switch strings.ToUpper(p.Protocol) {
		case "", "TCP", "UDP", "SCTP": // empty means TCP
		default:
			v.add(pp+".protocol", p.Protocol, "must be TCP, UDP or SCTP")
		}
		if p.Net != "" {
			v.cidr(pp+".net", p.Net, false)
		}
	}
}

// numericRange checks a port or port range without names.
func (v *validator) numericRange(path string, p *Port) {
	if p == nil {
		return
	}
	switch {
	case p.PortName != "":
		v.add(path, p.PortName, "must be a port number or range, not a name")
	case p.MinPort == 0:
		v.add(path, p.String(), "port numbers must be 1-65535")
	case p.MinPort > p.MaxPort:
		v.add(path, p.String(), "range minimum is greater than maximum")
	}
}

// routeTables checks routeTableRange (1-250) and routeTableRanges (any
// valid table but the kernel's reserved 253-255).
func (v *validator) routeTables(s *FelixConfigurationSpec) {
	if r := s.RouteTableRange; r != nil {
		if r.Min < 1 || r.Max > maxRouteTableRange || r.Min > r.Max {
			v.add("spec.routeTableRange", formatRange(*r), "min and max must be within 1-%d with min <= max", maxRouteTableRange)
		}
	}
	if s.RouteTableRanges == nil {
		return
	}
	for i, r := range *s.RouteTableRanges {
		p := idx("spec.routeTableRanges", i)
		switch {
		case r.Min < 1 || int64(r.Max) > 1<<32-1 || r.Min > r.Max:
			v.add(p, formatRange(r), "min and max must be within 1-4294967295 with min <= max")
		case r.Min <= lastReservedTable && r.Max >= firstReservedTable:
			v.add(p, formatRange(r), "must not include the reserved tables 253-255")
		}
	}
}

func formatRange(r RouteTableRange) string {
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}
