package node

import (
	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/notimpl"
)

// bgpNotImplementedKinds are the kinds whose stored-but-not-implemented
// fields the BGP side logs (the agent logs IP pools and the rest).
var bgpNotImplementedKinds = []string{v3.KindNode, v3.KindBGPConfiguration, v3.KindBGPPeer}

// reportBGPNotImplemented wraps the BGP side's syncer callbacks so that
// every listed field (internal/notimpl) set in a Node, BGPConfiguration
// or BGPPeer is logged at Warn, once per object and field.
func reportBGPNotImplemented(b *bgp) syncer.Callbacks {
	return notimpl.NewReporter(b.log, bgpNotImplementedKinds...).Wrap(b)
}
