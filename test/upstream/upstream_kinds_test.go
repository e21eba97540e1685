package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	apiv3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	internalapi "github.com/projectcalico/calico/libcalico-go/lib/apis/v3"
	"github.com/projectcalico/calico/libcalico-go/lib/clientv3"
	"github.com/projectcalico/calico/libcalico-go/lib/options"
)

// upKind drives upstream's typed clientv3 for one kind through untyped
// functions, so the tests can loop over kinds.
type upKind struct {
	// decode parses a manifest into upstream's Go type, rejecting
	// fields upstream does not know.
	decode func(manifest []byte) (any, error)
	create func(ctx context.Context, c clientv3.Interface, obj any) (any, error)
	update func(ctx context.Context, c clientv3.Interface, obj any) (any, error)
	get    func(ctx context.Context, c clientv3.Interface, ns, name string) (any, error)
	list   func(ctx context.Context, c clientv3.Interface) ([]any, error)
}

// The method sets the typed clientv3 interfaces share.
type globalAPI[P, L any] interface {
	Create(context.Context, P, options.SetOptions) (P, error)
	Update(context.Context, P, options.SetOptions) (P, error)
	Get(context.Context, string, options.GetOptions) (P, error)
	List(context.Context, options.ListOptions) (L, error)
}

type namespacedAPI[P, L any] interface {
	Create(context.Context, P, options.SetOptions) (P, error)
	Update(context.Context, P, options.SetOptions) (P, error)
	Get(context.Context, string, string, options.GetOptions) (P, error)
	List(context.Context, options.ListOptions) (L, error)
}

func strictDecode[T any](manifest []byte) (any, error) {
	obj := new(T)
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("upstream %T: %w", obj, err)
	}
	return obj, nil
}

func itemPtrs[T any](items []T) []any {
	out := make([]any, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

func global[T, L any](api func(clientv3.Interface) globalAPI[*T, *L], items func(*L) []T) upKind {
	return upKind{
		decode: strictDecode[T],
		create: func(ctx context.Context, c clientv3.Interface, obj any) (any, error) {
			return api(c).Create(ctx, obj.(*T), options.SetOptions{})
		},
		update: func(ctx context.Context, c clientv3.Interface, obj any) (any, error) {
			return api(c).Update(ctx, obj.(*T), options.SetOptions{})
		},
		get: func(ctx context.Context, c clientv3.Interface, _, name string) (any, error) {
			return api(c).Get(ctx, name, options.GetOptions{})
		},
		list: func(ctx context.Context, c clientv3.Interface) ([]any, error) {
			l, err := api(c).List(ctx, options.ListOptions{})
			if err != nil {
				return nil, err
			}
			return itemPtrs(items(l)), nil
		},
	}
}

func namespaced[T, L any](api func(clientv3.Interface) namespacedAPI[*T, *L], items func(*L) []T) upKind {
	return upKind{
		decode: strictDecode[T],
		create: func(ctx context.Context, c clientv3.Interface, obj any) (any, error) {
			return api(c).Create(ctx, obj.(*T), options.SetOptions{})
		},
		update: func(ctx context.Context, c clientv3.Interface, obj any) (any, error) {
			return api(c).Update(ctx, obj.(*T), options.SetOptions{})
		},
		get: func(ctx context.Context, c clientv3.Interface, ns, name string) (any, error) {
			return api(c).Get(ctx, ns, name, options.GetOptions{})
		},
		list: func(ctx context.Context, c clientv3.Interface) ([]any, error) {
			l, err := api(c).List(ctx, options.ListOptions{})
			if err != nil {
				return nil, err
			}
			return itemPtrs(items(l)), nil
		},
	}
}

// upKinds covers every kind the compatibility tests exercise.
var upKinds = map[string]upKind{
	"IPPool": global(func(c clientv3.Interface) globalAPI[*apiv3.IPPool, *apiv3.IPPoolList] { return c.IPPools() },
		func(l *apiv3.IPPoolList) []apiv3.IPPool { return l.Items }),
	"IPReservation": global(func(c clientv3.Interface) globalAPI[*apiv3.IPReservation, *apiv3.IPReservationList] {
		return c.IPReservations()
	}, func(l *apiv3.IPReservationList) []apiv3.IPReservation { return l.Items }),
	"Tier": global(func(c clientv3.Interface) globalAPI[*apiv3.Tier, *apiv3.TierList] { return c.Tiers() },
		func(l *apiv3.TierList) []apiv3.Tier { return l.Items }),
	"GlobalNetworkPolicy": global(func(c clientv3.Interface) globalAPI[*apiv3.GlobalNetworkPolicy, *apiv3.GlobalNetworkPolicyList] {
		return c.GlobalNetworkPolicies()
	}, func(l *apiv3.GlobalNetworkPolicyList) []apiv3.GlobalNetworkPolicy { return l.Items }),
	"NetworkPolicy": namespaced(func(c clientv3.Interface) namespacedAPI[*apiv3.NetworkPolicy, *apiv3.NetworkPolicyList] {
		return c.NetworkPolicies()
	}, func(l *apiv3.NetworkPolicyList) []apiv3.NetworkPolicy { return l.Items }),
	"Profile": global(func(c clientv3.Interface) globalAPI[*apiv3.Profile, *apiv3.ProfileList] { return c.Profiles() },
		func(l *apiv3.ProfileList) []apiv3.Profile { return l.Items }),
	"HostEndpoint": global(func(c clientv3.Interface) globalAPI[*apiv3.HostEndpoint, *apiv3.HostEndpointList] {
		return c.HostEndpoints()
	}, func(l *apiv3.HostEndpointList) []apiv3.HostEndpoint { return l.Items }),
	"WorkloadEndpoint": namespaced(func(c clientv3.Interface) namespacedAPI[*internalapi.WorkloadEndpoint, *internalapi.WorkloadEndpointList] {
		return c.WorkloadEndpoints()
	}, func(l *internalapi.WorkloadEndpointList) []internalapi.WorkloadEndpoint { return l.Items }),
	"NetworkSet": namespaced(func(c clientv3.Interface) namespacedAPI[*apiv3.NetworkSet, *apiv3.NetworkSetList] {
		return c.NetworkSets()
	}, func(l *apiv3.NetworkSetList) []apiv3.NetworkSet { return l.Items }),
	"GlobalNetworkSet": global(func(c clientv3.Interface) globalAPI[*apiv3.GlobalNetworkSet, *apiv3.GlobalNetworkSetList] {
		return c.GlobalNetworkSets()
	}, func(l *apiv3.GlobalNetworkSetList) []apiv3.GlobalNetworkSet { return l.Items }),
	"BGPPeer": global(func(c clientv3.Interface) globalAPI[*apiv3.BGPPeer, *apiv3.BGPPeerList] { return c.BGPPeers() },
		func(l *apiv3.BGPPeerList) []apiv3.BGPPeer { return l.Items }),
	"BGPConfiguration": global(func(c clientv3.Interface) globalAPI[*apiv3.BGPConfiguration, *apiv3.BGPConfigurationList] {
		return c.BGPConfigurations()
	}, func(l *apiv3.BGPConfigurationList) []apiv3.BGPConfiguration { return l.Items }),
	"FelixConfiguration": global(func(c clientv3.Interface) globalAPI[*apiv3.FelixConfiguration, *apiv3.FelixConfigurationList] {
		return c.FelixConfigurations()
	}, func(l *apiv3.FelixConfigurationList) []apiv3.FelixConfiguration { return l.Items }),
	"ClusterInformation": global(func(c clientv3.Interface) globalAPI[*apiv3.ClusterInformation, *apiv3.ClusterInformationList] {
		return c.ClusterInformation()
	}, func(l *apiv3.ClusterInformationList) []apiv3.ClusterInformation { return l.Items }),
	"Node": global(func(c clientv3.Interface) globalAPI[*internalapi.Node, *internalapi.NodeList] { return c.Nodes() },
		func(l *internalapi.NodeList) []internalapi.Node { return l.Items }),
	"KubeControllersConfiguration": global(func(c clientv3.Interface) globalAPI[*apiv3.KubeControllersConfiguration, *apiv3.KubeControllersConfigurationList] {
		return c.KubeControllersConfiguration()
	}, func(l *apiv3.KubeControllersConfigurationList) []apiv3.KubeControllersConfiguration { return l.Items }),
}
