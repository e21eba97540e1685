package birdcfg

import (
	"reflect"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// View keeps the resources that shape BGP: Nodes, BGPPeers,
// BGPConfigurations and IPPools, by name. Updates of other kinds are
// ignored; a value of an unexpected type counts as a delete. It is not
// safe for concurrent use.
type View struct {
	nodes   map[string]*v3.Node
	peers   map[string]*v3.BGPPeer
	configs map[string]*v3.BGPConfiguration
	pools   map[string]*v3.IPPool
}

// NewView returns an empty View.
func NewView() *View {
	return &View{
		nodes:   map[string]*v3.Node{},
		peers:   map[string]*v3.BGPPeer{},
		configs: map[string]*v3.BGPConfiguration{},
		pools:   map[string]*v3.IPPool{},
	}
}

// OnUpdates folds a batch of syncer updates in and reports whether
// anything that can change a rendered config changed (metadata such as
// resourceVersion does not count).
func (v *View) OnUpdates(us []syncer.Update) (changed bool) {
	for _, u := range us {
		info, _, name, ok := resources.ParseKey(u.Key)
		if !ok {
			continue
		}
		del := u.Type == syncer.UpdateDeleted
		switch info.Kind {
		case v3.KindNode:
			n, _ := u.Value.(*v3.Node)
			changed = apply(v.nodes, name, n, del, func(a, b *v3.Node) bool {
				return reflect.DeepEqual(a.Metadata.Labels, b.Metadata.Labels) && reflect.DeepEqual(a.Spec.BGP, b.Spec.BGP)
			}) || changed
		case v3.KindBGPPeer:
			p, _ := u.Value.(*v3.BGPPeer)
			changed = apply(v.peers, name, p, del, func(a, b *v3.BGPPeer) bool {
				return reflect.DeepEqual(a.Spec, b.Spec)
			}) || changed
		case v3.KindBGPConfiguration:
			c, _ := u.Value.(*v3.BGPConfiguration)
			changed = apply(v.configs, name, c, del, func(a, b *v3.BGPConfiguration) bool {
				return reflect.DeepEqual(a.Spec, b.Spec)
			}) || changed
		case v3.KindIPPool:
			p, _ := u.Value.(*v3.IPPool)
			changed = apply(v.pools, name, p, del, func(a, b *v3.IPPool) bool {
				return reflect.DeepEqual(a.Spec, b.Spec)
			}) || changed
		}
	}
	return changed
}

// apply stores val under name (or removes it when del or val is nil) and
// reports whether the stored value changed in a way same cannot see past.
func apply[T any](m map[string]*T, name string, val *T, del bool, same func(a, b *T) bool) bool {
	old, had := m[name]
	if del || val == nil {
		if !had {
			return false
		}
		delete(m, name)
		return true
	}
	m[name] = val
	return !had || !same(old, val)
}

// Input returns a snapshot of the view for the node named nodeName. It
// deep-copies every resource, so the caller may keep and modify it.
func (v *View) Input(nodeName string) *Input {
	in := &Input{
		NodeName:    nodeName,
		NodeConfigs: map[string]*v3.BGPConfigurationSpec{},
		Nodes:       sortedCopies(v.nodes, (*v3.Node).DeepCopy),
		Peers:       sortedCopies(v.peers, (*v3.BGPPeer).DeepCopy),
		Pools:       sortedCopies(v.pools, (*v3.IPPool).DeepCopy),
	}
	for name, c := range v.configs {
		spec := &c.DeepCopy().Spec
		switch {
		case name == "default":
			in.Global = spec
		case strings.HasPrefix(name, "node."):
			node := strings.TrimPrefix(name, "node.")
			in.NodeConfigs[node] = spec
			if node == nodeName {
				in.PerNode = &c.DeepCopy().Spec
			}
		}
	}
	return in
}

func sortedCopies[T any](m map[string]*T, cp func(*T) *T) []*T {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*T, 0, len(names))
	for _, n := range names {
		out = append(out, cp(m[n]))
	}
	return out
}
