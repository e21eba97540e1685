package agent

import (
	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/notimpl"
)

// notImplementedKinds are the kinds whose stored-but-not-implemented
// fields the agent logs (calico-node's BGP side logs the BGP kinds).
var notImplementedKinds = []string{
	v3.KindFelixConfiguration, v3.KindIPPool, v3.KindWorkloadEndpoint, v3.KindHostEndpoint,
	v3.KindNetworkPolicy, v3.KindGlobalNetworkPolicy, v3.KindProfile, v3.KindTier,
	v3.KindNetworkSet, v3.KindGlobalNetworkSet,
}

// reportNotImplemented wraps the agent's syncer callbacks so that every
// listed field (internal/notimpl) set in what the agent follows is
// logged at Warn, once per object and field, before the agent sees it.
// Endpoints are reported by their own node's agent only: the others'
// agents would repeat it on every host.
func reportNotImplemented(a *agent) syncer.Callbacks {
	node := a.cfg.NodeName
	local := func(r v3.Resource) bool {
		w, ok := r.(*v3.WorkloadEndpoint)
		return !ok || w.Spec.Node == node
	}
	return notimpl.NewReporter(a.log.With("component", "agent"), notImplementedKinds...).Only(local).Wrap(a)
}
