package notimpl

import (
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
)

// Field is one field this version accepts and stores but does not act
// on, or a whole kind (Path "").
type Field struct {
	// Kind is the resource kind, e.g. "IPPool".
	Kind string
	// Path is the field as a user writes it in a manifest, e.g.
	// "spec.vxlanMode"; "[]" stands for every item of a list
	// ("spec.ingress[].http"). Empty: every object of the kind (or of
	// Scope) is stored but not acted on.
	Path string
	// Quiet are the values, as JSON, that need no warning: the default,
	// or what this version does anyway (`"Never"`, `false`). An unset
	// field never needs one.
	Quiet []string
	// Scope, when set, says which objects of the kind the entry is about
	// (skip decides it); empty means all of them.
	Scope string
	// What replaces "<path> <value>" in messages, for whole objects.
	What string
	// Why says what is missing.
	Why string

	skip func(r v3.Resource) bool
}

// Reasons shared by many fields.
const (
	whyEncap = "no IPIP or VXLAN tunnels yet (issue 18): routes between hosts come from BGP"
	whyNAT   = "no outgoing NAT yet (issue 18)"
	whyNAT1  = "no 1:1 NAT for ipNATs (floating IPs) yet (issue 17)"
	whyIPT   = "the agent programs nftables, in its own table, not iptables"
	whyNFT   = "the agent's nftables table is fixed: one table, its own marks and verdicts"
	whyBPF   = "no eBPF dataplane"
	whyXDP   = "no XDP programs"
	whyWG    = "no WireGuard encryption"
	whyFlow  = "no flow logs"
	whyLogs  = "the agent logs to standard error only, at logSeverityScreen"
	whyDebug = "this debugging aid is not implemented"
	whyK8s   = "no Kubernetes integration: no Services, kube-proxy or node ports"
	whyOS    = "no OpenStack metadata service yet (issue 17)"
	whyRoute = "the agent programs one route per workload address in the main table, from its own protocol only"
	whyMTU   = "the agent does not manage MTUs"
	whyUsage = "no usage reporting"
	whyKubeC = "no kube-controllers: nothing reads this configuration"
	whyStage = "staged policies are never enforced; upstream shows their effect in flow logs, which this version does not have"
	whyBGPSv = "no advertisement of Kubernetes Service addresses"
)

// felix returns a FelixConfiguration spec field entry.
func felix(path, why string, quiet ...string) Field {
	return Field{Kind: v3.KindFelixConfiguration, Path: "spec." + path, Why: why, Quiet: quiet}
}

// Quiet values as JSON.
const (
	jFalse = "false"
	jTrue  = "true"
)

func jstr(s string) string { return `"` + s + `"` }

// fields is the list: every field this version stores but does not act
// on. Each entry was checked against the code that consumes the kind
// (internal/agent/config, internal/agent/calc, internal/agent/policy,
// internal/bgp/birdcfg, internal/ipam, internal/cni); fields not listed
// are acted on, or are descriptions rather than settings (names, orchRefs,
// addresses, status, annotations: see TestEveryFieldIsDecided). It
// shrinks as features land.
var fields = []Field{
	// IPPool: addresses come from the pool (cidr, blockSize, nodeSelector,
	// disabled, allowedUses) and BGP announces it (disableBGPExport).
	{Kind: v3.KindIPPool, Path: "spec.ipipMode", Quiet: []string{jstr("Never")}, Why: whyEncap},
	{Kind: v3.KindIPPool, Path: "spec.vxlanMode", Quiet: []string{jstr("Never")}, Why: whyEncap},
	{Kind: v3.KindIPPool, Path: "spec.natOutgoing", Why: whyNAT,
		Scope: "except calico-node's default pools (default-ipv4-ippool, default-ipv6-ippool), created with natOutgoing as upstream creates them",
		skip:  isDefaultPool},
	{Kind: v3.KindIPPool, Path: "spec.namespaceSelector", Why: "no Kubernetes namespaces: a pool is chosen by nodeSelector alone"},
	{Kind: v3.KindIPPool, Path: "spec.assignmentMode", Quiet: []string{jstr("Automatic")},
		Why: "every pool is used automatically: Manual (only when asked for by name) is not implemented"},
	{Kind: v3.KindIPPool, Path: "spec.ipip", Why: "a deprecated upstream v1 field, ignored as upstream ignores it: use spec.ipipMode"},
	{Kind: v3.KindIPPool, Path: "spec.nat-outgoing", Why: "a deprecated upstream v1 field, ignored as upstream ignores it: use spec.natOutgoing"},

	// WorkloadEndpoint.
	{Kind: v3.KindWorkloadEndpoint, Path: "spec.ipNATs", Why: whyNAT1},
	{Kind: v3.KindWorkloadEndpoint, Path: "spec.qosControls", Why: "no bandwidth, packet-rate, connection or DSCP controls"},

	// Policy rules the agent cannot enforce as written: it drops the rule
	// (fails closed), so the rule matches nothing. (http is valid on
	// ingress rules only, services in ingress sources and egress
	// destinations only.)
	rule(v3.KindNetworkPolicy, "ingress", "http"),
	rule(v3.KindGlobalNetworkPolicy, "ingress", "http"),
	rule(v3.KindProfile, "ingress", "http"),
	rule(v3.KindNetworkPolicy, "ingress", "source.services"), rule(v3.KindNetworkPolicy, "egress", "destination.services"),
	rule(v3.KindGlobalNetworkPolicy, "ingress", "source.services"), rule(v3.KindGlobalNetworkPolicy, "egress", "destination.services"),
	rule(v3.KindProfile, "ingress", "source.services"), rule(v3.KindProfile, "egress", "destination.services"),
	{Kind: v3.KindNetworkPolicy, Path: "spec.performanceHints", Why: "a performance hint this version has no use for; it changes nothing"},
	{Kind: v3.KindGlobalNetworkPolicy, Path: "spec.performanceHints", Why: "a performance hint this version has no use for; it changes nothing"},

	// Whole kinds.
	{Kind: v3.KindStagedNetworkPolicy, Why: whyStage},
	{Kind: v3.KindStagedGlobalNetworkPolicy, Why: whyStage},
	{Kind: v3.KindKubeControllersConfiguration, Why: whyKubeC},
	{Kind: v3.KindBGPFilter, Why: "BGP filters are not rendered into BIRD's configuration"},

	// ClusterInformation: the rest is a description of the cluster.
	{Kind: v3.KindClusterInformation, Path: "spec.datastoreReady", Quiet: []string{jTrue},
		Why: "calico-node and the CNI plugins do not pause while the datastore is marked not ready (as for a migration)"},

	// Node: BGP (spec.bgp asNumber, addresses, routeReflectorClusterID)
	// is rendered; tunnel addresses belong to tunnels that do not exist.
	{Kind: v3.KindNode, Path: "spec.bgp.ipv4IPIPTunnelAddr", Why: whyEncap},
	{Kind: v3.KindNode, Path: "spec.ipv4VXLANTunnelAddr", Why: whyEncap},
	{Kind: v3.KindNode, Path: "spec.ipv6VXLANTunnelAddr", Why: whyEncap},
	{Kind: v3.KindNode, Path: "spec.vxlanTunnelMACAddr", Why: whyEncap},
	{Kind: v3.KindNode, Path: "spec.vxlanTunnelMACAddrV6", Why: whyEncap},
	{Kind: v3.KindNode, Path: "spec.wireguard", Why: whyWG},

	// BGPConfiguration: logSeverityScreen, asNumber, nodeToNodeMeshEnabled,
	// listenPort, nodeMeshPassword, nodeMeshMaxRestartTime, bindMode and
	// ignoredInterfaces are rendered.
	{Kind: v3.KindBGPConfiguration, Path: "spec.serviceClusterIPs", Why: whyBGPSv},
	{Kind: v3.KindBGPConfiguration, Path: "spec.serviceExternalIPs", Why: whyBGPSv},
	{Kind: v3.KindBGPConfiguration, Path: "spec.serviceLoadBalancerIPs", Why: whyBGPSv},
	{Kind: v3.KindBGPConfiguration, Path: "spec.serviceLoadBalancerAggregation", Quiet: []string{jstr("Enabled")}, Why: whyBGPSv},
	{Kind: v3.KindBGPConfiguration, Path: "spec.communities", Why: "no BGP communities on announced routes"},
	{Kind: v3.KindBGPConfiguration, Path: "spec.prefixAdvertisements", Why: "no BGP communities on announced routes"},
	{Kind: v3.KindBGPConfiguration, Path: "spec.localWorkloadPeeringIPV4", Why: "no BGP peering with workloads"},
	{Kind: v3.KindBGPConfiguration, Path: "spec.localWorkloadPeeringIPV6", Why: "no BGP peering with workloads"},
	{Kind: v3.KindBGPConfiguration, Path: "spec.programClusterRoutes", Quiet: []string{jstr("Enabled")},
		Why: "BIRD always programs the routes it learns (except those of IPIP/VXLAN pools)"},
	{Kind: v3.KindBGPConfiguration, Path: "spec.ipv4NormalRoutePriority", Why: "routes learned by BGP get BIRD's default metric"},
	{Kind: v3.KindBGPConfiguration, Path: "spec.ipv6NormalRoutePriority", Why: "routes learned by BGP get BIRD's default metric"},
	{Kind: v3.KindBGPConfiguration, Path: "spec.asNumber", Scope: "node.<name> configurations", skip: notPerNode,
		Why: `the AS number comes from the Node (spec.bgp.asNumber) or BGPConfiguration "default" only`},
	{Kind: v3.KindBGPConfiguration, Path: "spec.nodeToNodeMeshEnabled", Scope: "node.<name> configurations", skip: notPerNode,
		Why: `the mesh is turned on or off in BGPConfiguration "default" only`},
	{Kind: v3.KindBGPConfiguration, Scope: `names other than "default" and "node.<name>"`, skip: namedOrPerNode,
		What: `a BGPConfiguration named other than "default" or "node.<name>"`,
		Why:  `only "default" and "node.<name>" apply`},

	// BGPPeer.
	{Kind: v3.KindBGPPeer, Path: "spec.filters", Why: "BGP filters are not rendered into BIRD's configuration"},
	{Kind: v3.KindBGPPeer, Path: "spec.reachableBy", Why: "no static route to the peer is added; the kernel's routes decide"},
	{Kind: v3.KindBGPPeer, Path: "spec.localWorkloadSelector", Why: "no BGP peering with workloads"},

	// FelixConfiguration: internal/agent/config reads interfacePrefix,
	// routeRefreshInterval, reporting*, endpointReporting*,
	// logSeverityScreen, health*, prometheusMetrics*, openstackRegion,
	// deviceRouteProtocol, ipv6Support, defaultEndpointToHostAction,
	// workloadSourceSpoofing, failsafe*HostPorts, goGCThreshold,
	// goMemoryLimitMB, debugMemoryProfilePath and ipForwarding.
	{Kind: v3.KindFelixConfiguration, Scope: `names other than "default" and "node.<name>"`, skip: namedOrPerNode,
		What: `a FelixConfiguration named other than "default" or "node.<name>"`,
		Why:  `selector-scoped configurations are not applied: only "default" and "node.<name>" are`},
	felix("useInternalDataplaneDriver", "the agent's own dataplane is the only one", jTrue),
	felix("dataplaneDriver", "the agent's own dataplane is the only one"),
	felix("dataplaneWatchdogTimeout", "the agent's health has no dataplane watchdog timeout"),
	felix("interfaceRefreshInterval", "interfaces are followed by netlink events, never polled"),
	felix("iptablesRefreshInterval", whyIPT),
	felix("iptablesPostWriteCheckInterval", whyIPT),
	felix("iptablesLockFilePath", whyIPT),
	felix("iptablesLockTimeout", whyIPT),
	felix("iptablesLockProbeInterval", whyIPT),
	felix("featureDetectOverride", "no kernel feature detection to override"),
	felix("featureGates", "no feature gates"),
	felix("ipsetsRefreshInterval", "IP sets are nftables sets, refreshed with the table"),
	felix("maxIpsetSize", "nftables sets have no configured maximum"),
	felix("iptablesBackend", whyIPT),
	felix("xdpRefreshInterval", whyXDP),
	felix("netlinkTimeout", "netlink requests are not bounded by a configured timeout"),
	felix("metadataAddr", whyOS),
	felix("metadataPort", whyOS),
	felix("interfaceExclude", "host endpoints with interfaceName \"*\" police every interface but lo and the workloads'"),
	felix("chainInsertMode", whyNFT, jstr("Insert")),
	felix("iptablesFilterAllowAction", whyIPT, jstr("Accept")),
	felix("iptablesMangleAllowAction", whyIPT, jstr("Accept")),
	felix("iptablesFilterDenyAction", whyIPT, jstr("Drop")),
	felix("logPrefix", `Log rules use the fixed prefix "calico-packet: "`),
	felix("logFilePath", whyLogs),
	felix("logSeverityFile", whyLogs),
	felix("logSeveritySys", whyLogs),
	felix("logDebugFilenameRegex", whyLogs),
	felix("ipipEnabled", whyEncap, jFalse),
	felix("ipipMTU", whyEncap),
	felix("vxlanEnabled", whyEncap, jFalse),
	felix("vxlanMTU", whyEncap),
	felix("vxlanMTUV6", whyEncap),
	felix("vxlanPort", whyEncap),
	felix("vxlanVNI", whyEncap),
	felix("allowVXLANPacketsFromWorkloads", whyEncap, jFalse),
	felix("allowIPIPPacketsFromWorkloads", whyEncap, jFalse),
	felix("endpointStatusPathPrefix", "endpoint status goes to the datastore only, not to files"),
	felix("iptablesMarkMask", whyIPT),
	felix("disableConntrackInvalidCheck", "packets conntrack finds invalid are always dropped", jFalse),
	felix("healthTimeoutOverrides", "the agent's health timeouts are fixed"),
	felix("prometheusGoMetricsEnabled", "Go runtime metrics are always served", jTrue),
	felix("prometheusProcessMetricsEnabled", "process metrics are always served", jTrue),
	felix("prometheusWireGuardMetricsEnabled", whyWG, jFalse),
	felix("kubeNodePortRanges", whyK8s),
	felix("policySyncPathPrefix", "no policy sync API for per-pod proxies"),
	felix("usageReportingEnabled", whyUsage, jFalse),
	felix("usageReportingInitialDelay", whyUsage),
	felix("usageReportingInterval", whyUsage),
	felix("natPortRange", whyNAT),
	felix("natOutgoingAddress", whyNAT),
	felix("natOutgoingExclusions", whyNAT, jstr("IPPoolsOnly")),
	felix("deviceRouteSourceAddress", "workload routes carry no source address"),
	felix("deviceRouteSourceAddressIPv6", "workload routes carry no source address"),
	felix("removeExternalRoutes", "the agent never removes routes of other protocols", jFalse),
	felix("programClusterRoutes", "routes between hosts come from BGP", jstr("Disabled")),
	felix("externalNodesList", whyEncap),
	felix("debugDisableLogDropping", whyDebug, jFalse),
	felix("debugSimulateCalcGraphHangAfter", whyDebug),
	felix("debugSimulateDataplaneHangAfter", whyDebug),
	felix("debugSimulateDataplaneApplyDelay", whyDebug),
	felix("debugHost", whyDebug),
	felix("debugPort", whyDebug),
	felix("iptablesNATOutgoingInterfaceFilter", whyNAT),
	felix("sidecarAccelerationEnabled", "no sidecar acceleration", jFalse),
	felix("xdpEnabled", whyXDP, jFalse),
	felix("genericXDPEnabled", whyXDP, jFalse),
	felix("nftablesMode", "the agent always programs nftables: iptables mode (Disabled) is not implemented", jstr("Auto"), jstr("Enabled")),
	felix("nftablesRefreshInterval", "the nftables table is checked at every routeRefreshInterval"),
	felix("nftablesFilterAllowAction", whyNFT, jstr("Accept")),
	felix("nftablesMangleAllowAction", whyNFT, jstr("Accept")),
	felix("nftablesFilterDenyAction", whyNFT, jstr("Drop")),
	felix("nftablesMarkMask", whyNFT),
	felix("bpfEnabled", whyBPF, jFalse),
	felix("bpfDisableUnprivileged", "the agent leaves the kernel's unprivileged BPF setting alone", jFalse),
	felix("bpfLogLevel", whyBPF, jstr("Off")),
	felix("bpfConntrackLogLevel", whyBPF, jstr("Off")),
	felix("bpfConntrackMode", whyBPF),
	felix("bpfConntrackTimeouts", whyBPF),
	felix("bpfLogFilters", whyBPF),
	felix("bpfCTLBLogFilter", whyBPF),
	felix("bpfDataIfacePattern", whyBPF),
	felix("bpfL3IfacePattern", whyBPF),
	felix("bpfConnectTimeLoadBalancingEnabled", whyBPF),
	// TCP and Enabled are what upstream writes into every
	// FelixConfiguration.
	felix("bpfConnectTimeLoadBalancing", whyBPF, jstr("TCP")),
	felix("bpfHostNetworkedNATWithoutCTLB", whyBPF, jstr("Enabled")),
	felix("bpfExternalServiceMode", whyBPF),
	felix("bpfDSROptoutCIDRs", whyBPF),
	felix("bpfExtToServiceConnmark", whyBPF),
	felix("bpfKubeProxyIptablesCleanupEnabled", whyBPF),
	felix("bpfKubeProxyMinSyncPeriod", whyBPF),
	felix("bpfKubeProxyEndpointSlicesEnabled", whyBPF),
	felix("bpfPSNATPorts", whyBPF),
	felix("bpfMapSizeNATFrontend", whyBPF),
	felix("bpfMapSizeNATBackend", whyBPF),
	felix("bpfMapSizeNATAffinity", whyBPF),
	felix("bpfMapSizeRoute", whyBPF),
	felix("bpfMapSizeConntrack", whyBPF),
	felix("bpfMapSizePerCpuConntrack", whyBPF),
	felix("bpfMapSizeConntrackScaling", whyBPF),
	felix("bpfMapSizeConntrackCleanupQueue", whyBPF),
	felix("bpfMapSizeIPSets", whyBPF),
	felix("bpfMapSizeIfState", whyBPF),
	felix("bpfHostConntrackBypass", whyBPF),
	felix("bpfEnforceRPF", whyBPF),
	felix("bpfPolicyDebugEnabled", whyBPF),
	felix("bpfForceTrackPacketsFromIfaces", whyBPF),
	felix("bpfDisableGROForIfaces", whyBPF),
	felix("bpfExcludeCIDRsFromNAT", whyBPF),
	felix("bpfExportBufferSizeMB", whyBPF),
	felix("bpfRedirectToPeer", whyBPF),
	felix("bpfProfiling", whyBPF),
	felix("flowLogsPolicyEvaluationMode", whyFlow),
	felix("flowLogsFlushInterval", whyFlow),
	felix("flowLogsCollectorDebugTrace", whyFlow),
	felix("flowLogsGoldmaneServer", whyFlow),
	felix("flowLogsLocalReporter", whyFlow),
	felix("routeSource", whyRoute),
	felix("routeTableRange", whyRoute),
	felix("routeTableRanges", whyRoute),
	felix("routeSyncDisabled", whyRoute, jFalse),
	felix("serviceLoopPrevention", whyK8s, jstr("Disabled")),
	felix("mtuIfacePattern", whyMTU),
	felix("floatingIPs", whyNAT1, jstr("Disabled")),
	felix("wireguardEnabled", whyWG, jFalse),
	felix("wireguardEnabledV6", whyWG, jFalse),
	felix("wireguardThreadingEnabled", whyWG),
	felix("wireguardListeningPort", whyWG),
	felix("wireguardListeningPortV6", whyWG),
	felix("wireguardRoutingRulePriority", whyWG),
	felix("wireguardInterfaceName", whyWG),
	felix("wireguardInterfaceNameV6", whyWG),
	felix("wireguardMTU", whyWG),
	felix("wireguardMTUV6", whyWG),
	felix("wireguardHostEncryptionEnabled", whyWG, jFalse),
	felix("wireguardKeepAlive", whyWG),
	felix("awsSrcDstCheck", "the agent does not manage AWS settings", jstr("DoNothing")),
	felix("windowsManageFirewallRules", "Linux only", jstr("Disabled")),
	felix("goMaxProcs", "the Go runtime's default (GOMAXPROCS) applies"),
	felix("requireMTUFile", whyMTU, jFalse),
}

// rule returns the entry for a rule field of kind's direction (ingress or
// egress) the agent cannot enforce: field is "http", "source.services"
// or "destination.services".
func rule(kind, dir, field string) Field {
	why := "no layer-7 (HTTP) enforcement: a rule with an http match is left out, so it matches nothing"
	if strings.HasSuffix(field, "services") {
		why = "no Kubernetes Services in the datastore: a rule matching services is left out, so it matches nothing"
	}
	return Field{Kind: kind, Path: "spec." + dir + "[]." + field, Why: why}
}

// isDefaultPool: the pools calico-node creates (with natOutgoing, as
// upstream does).
func isDefaultPool(r v3.Resource) bool {
	n := r.GetObjectMeta().Name
	return n == "default-ipv4-ippool" || n == "default-ipv6-ippool"
}

func notPerNode(r v3.Resource) bool { return !strings.HasPrefix(r.GetObjectMeta().Name, "node.") }

func namedOrPerNode(r v3.Resource) bool {
	n := r.GetObjectMeta().Name
	return n == "default" || strings.HasPrefix(n, "node.")
}

// Fields returns the list of fields stored but not acted on, in order.
func Fields() []Field {
	out := make([]Field, len(fields))
	copy(out, fields)
	return out
}
