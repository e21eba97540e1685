package v3

import (
	"strings"
	"testing"
	"time"
)

func TestValidateFelixConfiguration(t *testing.T) {
	fc := func() *FelixConfiguration {
		c := NewFelixConfiguration()
		c.Metadata.Name = "default"
		return c
	}
	runValidation(t, []vcase{
		{"empty", fc(), nil},
		{"typical", with(fc(), func(c *FelixConfiguration) {
			c.Spec = FelixConfigurationSpec{
				InterfacePrefix: "cali,tap", DefaultEndpointToHostAction: "RETURN", ChainInsertMode: "insert",
				LogSeverityScreen: "info", LogSeveritySys: "None", ReportingInterval: NewDuration(0), IPv6Support: ptr(false),
				FailsafeInboundHostPorts: &[]ProtoPort{{Protocol: "tcp", Port: 22}, {Port: 179}, {Protocol: "UDP", Port: 68, Net: "10.0.0.0/8"}},
				RouteTableRange:          &RouteTableRange{Min: 1, Max: 250}, RouteTableRanges: &[]RouteTableRange{{Min: 1, Max: 250}, {Min: 256, Max: 1000}},
				NATPortRange: ptr(PortRange(32768, 65000)), OpenstackRegion: "region-one", NFTablesMode: ptr("Enabled"),
				VXLANVNI: ptr(4096), NATOutgoingAddress: "192.0.2.1", BPFLogLevel: "Debug", IptablesBackend: ptr("nft"),
			}
		}), nil},
		{"case-sensitive enums", with(fc(), func(c *FelixConfiguration) {
			c.Spec.NFTablesMode, c.Spec.IPForwarding, c.Spec.AWSSrcDstCheck = ptr("auto"), "enabled", ptr("disable")
		}), []string{"spec.nftablesMode", "spec.ipForwarding", "spec.awsSrcDstCheck"}},
		{"bad enums", with(fc(), func(c *FelixConfiguration) {
			c.Spec.DefaultEndpointToHostAction, c.Spec.ChainInsertMode, c.Spec.LogSeverityFile, c.Spec.RouteSource = "Permit", "Prepend", "Loud", "BGP"
		}), []string{"spec.defaultEndpointToHostAction", "spec.chainInsertMode", "spec.logSeverityFile", "spec.routeSource"}},
		{"empty pointer enum", with(fc(), func(c *FelixConfiguration) { c.Spec.FloatingIPs = ptr("") }), []string{"spec.floatingIPs"}},
		{"route table range", with(fc(), func(c *FelixConfiguration) { c.Spec.RouteTableRange = &RouteTableRange{Min: 0, Max: 251} }), []string{"spec.routeTableRange"}},
		{"route table range order", with(fc(), func(c *FelixConfiguration) { c.Spec.RouteTableRange = &RouteTableRange{Min: 20, Max: 10} }), []string{"spec.routeTableRange"}},
		{"route table ranges reserved", with(fc(), func(c *FelixConfiguration) {
			c.Spec.RouteTableRanges = &[]RouteTableRange{{Min: 1, Max: 10}, {Min: 250, Max: 260}, {Min: 0, Max: 5}}
		}), []string{"spec.routeTableRanges[1]", "spec.routeTableRanges[2]"}},
		{"openstack region", with(fc(), func(c *FelixConfiguration) { c.Spec.OpenstackRegion = strings.Repeat("r", 47) }), []string{"spec.openstackRegion"}},
		{"openstack region case", with(fc(), func(c *FelixConfiguration) { c.Spec.OpenstackRegion = "RegionOne" }), []string{"spec.openstackRegion"}},
		{"failsafe", with(fc(), func(c *FelixConfiguration) {
			c.Spec.FailsafeOutboundHostPorts = &[]ProtoPort{{Protocol: "icmp", Port: 1}, {Protocol: "tcp", Port: 2, Net: "nope"}}
		}), []string{"spec.failsafeOutboundHostPorts[0].protocol", "spec.failsafeOutboundHostPorts[1].net"}},
		{"port ranges", with(fc(), func(c *FelixConfiguration) {
			c.Spec.NATPortRange, c.Spec.BPFPSNATPorts = ptr(NamedPort("x")), ptr(PortRange(200, 100))
			c.Spec.KubeNodePortRanges = &[]Port{PortRange(30000, 32767), SinglePort(0)}
		}), []string{"spec.natPortRange", "spec.bpfPSNATPorts", "spec.kubeNodePortRanges[1]"}},
		{"interface prefix", with(fc(), func(c *FelixConfiguration) { c.Spec.InterfacePrefix = "cali tap" }), []string{"spec.interfacePrefix"}},
		{"numbers", with(fc(), func(c *FelixConfiguration) {
			c.Spec.VXLANVNI, c.Spec.HealthPort, c.Spec.IPIPMTU, c.Spec.WireguardRoutingRulePriority, c.Spec.GoGCThreshold = ptr(1<<24), ptr(70000), ptr(-1), ptr(32766), ptr(-2)
		}), []string{"spec.vxlanVNI", "spec.healthPort", "spec.ipipMTU", "spec.wireguardRoutingRulePriority", "spec.goGCThreshold"}},
		{"addresses", with(fc(), func(c *FelixConfiguration) {
			c.Spec.NATOutgoingAddress, c.Spec.DeviceRouteSourceAddressIPv6 = "fd00::1", "10.0.0.1"
			c.Spec.ExternalNodesCIDRList = &[]string{"10.0.0.0/8", "x"}
		}), []string{"spec.natOutgoingAddress", "spec.deviceRouteSourceAddressIPv6", "spec.externalNodesList[1]"}},
		{"negative duration", with(fc(), func(c *FelixConfiguration) { c.Spec.RouteRefreshInterval = NewDuration(-time.Second) }), []string{"spec.routeRefreshInterval"}},
		{"health override", with(fc(), func(c *FelixConfiguration) {
			c.Spec.HealthTimeoutOverrides = []HealthTimeoutOverride{{Timeout: Duration{time.Second}}}
		}),
			[]string{"spec.healthTimeoutOverrides[0].name"}},
	})
}

func TestValidateClusterInfoAndKubeControllers(t *testing.T) {
	ci := func(guid string) *ClusterInformation {
		c := NewClusterInformation()
		c.Metadata.Name = "default"
		c.Spec = ClusterInformationSpec{ClusterGUID: guid, ClusterType: "k8s,bgp", CalicoVersion: "v3.31.0", DatastoreReady: ptr(true)}
		return c
	}
	kcc := func() *KubeControllersConfiguration {
		c := NewKubeControllersConfiguration()
		c.Metadata.Name = "default"
		c.Spec.Controllers.Node = &NodeControllerConfig{SyncLabels: "Enabled", HostEndpoint: &AutoHostEndpointConfig{AutoCreate: "Disabled"}}
		return c
	}
	runValidation(t, []vcase{
		{"cluster info", ci("5a1c4eefd3a14a87b1b0cb2b7a0e23f5"), nil},
		{"cluster guid", ci("5a1c4eef-d3a1-4a87-b1b0-cb2b7a0e23f5"), []string{"spec.clusterGUID"}},
		{"kcc", kcc(), nil},
		{"kcc enums", with(kcc(), func(c *KubeControllersConfiguration) {
			c.Spec.HealthChecks = "On"
			c.Spec.Controllers.Node.HostEndpoint.AutoCreate = "Yes"
			c.Spec.Controllers.LoadBalancer = &LoadBalancerControllerConfig{AssignIPs: "Some"}
			c.Spec.Controllers.Policy = &ReconcilerConfig{ReconcilerPeriod: NewDuration(-time.Minute)}
		}), []string{"spec.healthChecks", "spec.controllers.node.hostEndpoint.autoCreate", "spec.controllers.loadBalancer.assignIPs",
			"spec.controllers.policy.reconcilerPeriod"}},
		{"kcc status", with(kcc(), func(c *KubeControllersConfiguration) {
			c.Status.RunningConfig = &KubeControllersConfigurationSpec{LogSeverityScreen: "Chatty"}
		}), []string{"status.runningConfig.logSeverityScreen"}},
	})
}
