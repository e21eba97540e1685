package birdcfg

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// View keeps the resources that shape BGP: Nodes, BGPPeers,
// BGPConfigurations and IPPools, by name, and the confirmed IPAM block
// affinities of every node it is given (keys under AffinityPrefix, values
// as DecodeAffinity returns them or raw). Updates of other kinds are
// ignored; a value of an unexpected type counts as a delete. It is not
// safe for concurrent use.
type View struct {
	nodes   map[string]*v3.Node
	peers   map[string]*v3.BGPPeer
	configs map[string]*v3.BGPConfiguration
	pools   map[string]*v3.IPPool
	// blocks are the confirmed affinities by node, then block.
	blocks map[string]map[netip.Prefix]bool
}

// NewView returns an empty View.
func NewView() *View {
	return &View{
		nodes:   map[string]*v3.Node{},
		peers:   map[string]*v3.BGPPeer{},
		configs: map[string]*v3.BGPConfiguration{},
		pools:   map[string]*v3.IPPool{},
		blocks:  map[string]map[netip.Prefix]bool{},
	}
}

// OnUpdates folds a batch of syncer updates in and reports whether
// anything that can change a rendered config changed (metadata such as
// resourceVersion does not count).
func (v *View) OnUpdates(us []syncer.Update) (changed bool) {
	for _, u := range us {
		if IsAffinityKey(u.Key) {
			changed = v.applyAffinity(u) || changed
			continue
		}
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

// applyAffinity folds in one affinity update and reports whether the
// node's confirmed blocks changed. Only confirmed affinities count: a
// pending block may not exist yet, and one pending deletion is going.
func (v *View) applyAffinity(u syncer.Update) bool {
	var a *Affinity
	switch val := u.Value.(type) {
	case *Affinity:
		a = val
	case []byte:
		a, _ = DecodeAffinity(u.Key, val)
	}
	node, block, err := parseAffinityKey(u.Key)
	if err != nil {
		return false
	}
	confirmed := u.Type != syncer.UpdateDeleted && a != nil && a.State == AffinityConfirmed &&
		a.Node == node && a.Block == block
	had := v.blocks[node][block]
	switch {
	case confirmed && !had:
		if v.blocks[node] == nil {
			v.blocks[node] = map[netip.Prefix]bool{}
		}
		v.blocks[node][block] = true
	case !confirmed && had:
		delete(v.blocks[node], block)
		if len(v.blocks[node]) == 0 {
			delete(v.blocks, node)
		}
	default:
		return false
	}
	return true
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
	for b := range v.blocks[nodeName] {
		in.Blocks = append(in.Blocks, b)
	}
	sortPrefixes(in.Blocks)
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

// sortPrefixes sorts IPv4 before IPv6, then by address and length.
func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}
