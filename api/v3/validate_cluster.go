package v3

import "regexp"

var clusterGUIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// clusterInformation checks a ClusterInformation spec.
func (v *validator) clusterInformation(s *ClusterInformationSpec) {
	if s.ClusterGUID != "" && !clusterGUIDRE.MatchString(s.ClusterGUID) {
		v.add("spec.clusterGUID", s.ClusterGUID, "must be 32 lowercase hex digits")
	}
}

// kubeControllers checks a KubeControllersConfiguration spec (or its
// running config in status).
func (v *validator) kubeControllers(s *KubeControllersConfigurationSpec, path string) {
	v.oneOf(path+".logSeverityScreen", s.LogSeverityScreen, "None", "Debug", "Info", "Warning", "Error", "Fatal", "Panic")
	v.oneOf(path+".healthChecks", s.HealthChecks, "Enabled", "Disabled")
	v.duration(path+".etcdV3CompactionPeriod", s.EtcdV3CompactionPeriod)
	v.intRange(path+".prometheusMetricsPort", s.PrometheusMetricsPort, 0, 65535)
	if s.DebugProfilePort != nil && (*s.DebugProfilePort < 0 || *s.DebugProfilePort > 65535) {
		v.add(path+".debugProfilePort", *s.DebugProfilePort, "must be between 0 and 65535")
	}
	c := &s.Controllers
	cp := path + ".controllers"
	if n := c.Node; n != nil {
		v.duration(cp+".node.reconcilerPeriod", n.ReconcilerPeriod)
		v.duration(cp+".node.leakGracePeriod", n.LeakGracePeriod)
		v.oneOf(cp+".node.syncLabels", n.SyncLabels, "Enabled", "Disabled")
		if h := n.HostEndpoint; h != nil {
			v.oneOf(cp+".node.hostEndpoint.autoCreate", h.AutoCreate, "Enabled", "Disabled")
			v.oneOf(cp+".node.hostEndpoint.createDefaultHostEndpoint", h.CreateDefaultHostEndpoint, "Enabled", "Disabled")
			for i, t := range h.Templates {
				tp := idx(cp+".node.hostEndpoint.templates", i)
				v.selector(tp+".nodeSelector", t.NodeSelector, false)
				v.labels(tp+".labels", t.Labels)
				for j, cidr := range t.InterfaceCIDRs {
					v.cidr(idx(tp+".interfaceCIDRs", j), cidr, false)
				}
			}
		}
	}
	for _, r := range []struct {
		name string
		c    *ReconcilerConfig
	}{{"policy", c.Policy}, {"workloadEndpoint", c.WorkloadEndpoint}, {"serviceAccount", c.ServiceAccount}, {"namespace", c.Namespace}} {
		if r.c != nil {
			v.duration(cp+"."+r.name+".reconcilerPeriod", r.c.ReconcilerPeriod)
		}
	}
	if lb := c.LoadBalancer; lb != nil {
		v.oneOf(cp+".loadBalancer.assignIPs", lb.AssignIPs, "AllServices", "RequestedServicesOnly")
	}
	if m := c.Migration; m != nil {
		v.oneOf(cp+".policyMigration.enabled", m.PolicyNameMigrator, "Enabled", "Disabled")
	}
}
