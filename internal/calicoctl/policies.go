package calicoctl

import (
	"context"
	"fmt"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/policy"
	"github.com/gocalico/calico/internal/resources"
)

// colPolicies is the POLICIES column of workload and host endpoints:
// the policies that select the endpoint, in evaluation order. Its cells
// come from printOptions.policies, which get fills for -o wide only.
var colPolicies = column{header: "POLICIES", policies: true}

// endpointPolicies reads what decides which policies select the
// endpoints among rs (tiers, policies, profiles), each kind once
// however many endpoints there are, and returns the POLICIES cell of an
// endpoint. With no endpoint in rs it reads nothing and returns nil.
// NetworkPolicies are read from the workloads' namespace when they
// share one, else from every namespace; host endpoints need none.
func endpointPolicies(ctx context.Context, c *resources.Client, rs []v3.Resource) (func(v3.Resource) string, error) {
	found, namespaces := false, map[string]bool{}
	for _, r := range rs {
		switch e := r.(type) {
		case *v3.WorkloadEndpoint:
			found = true
			namespaces[e.Metadata.Namespace] = true
		case *v3.HostEndpoint:
			found = true
		}
	}
	if !found {
		return nil, nil
	}
	var in policy.PolicyResources
	var err error
	if in.Tiers, err = listAs[*v3.Tier](ctx, c, v3.KindTier, ""); err != nil {
		return nil, err
	}
	if in.GlobalNetworkPolicies, err = listAs[*v3.GlobalNetworkPolicy](ctx, c, v3.KindGlobalNetworkPolicy, ""); err != nil {
		return nil, err
	}
	if len(namespaces) > 0 {
		ns := ""
		if len(namespaces) == 1 {
			for n := range namespaces {
				ns = n
			}
		}
		if in.NetworkPolicies, err = listAs[*v3.NetworkPolicy](ctx, c, v3.KindNetworkPolicy, ns); err != nil {
			return nil, err
		}
	}
	if in.Profiles, err = listAs[*v3.Profile](ctx, c, v3.KindProfile, ""); err != nil {
		return nil, err
	}
	m := policy.NewMatcher(in)
	return func(r v3.Resource) string {
		sel, err := m.Selecting(r)
		if err != nil {
			return "" // not an endpoint
		}
		return policiesCell(sel)
	}, nil
}

// policiesCell writes selecting policies for a table cell, comma
// separated: "tier/name" for a GlobalNetworkPolicy, "tier/namespace/name"
// for a NetworkPolicy (policy names never contain "/"), with
// "(doNotTrack)" or "(preDNAT)" after a policy of those stages, and
// "(invalid)" after one whose selector cannot be parsed (it fails
// closed).
func policiesCell(sel []policy.SelectingPolicy) string {
	parts := make([]string, len(sel))
	for i, s := range sel {
		p := s.Tier + "/" + s.Name
		if s.Namespace != "" {
			p = s.Tier + "/" + s.Namespace + "/" + s.Name
		}
		if s.Stage != "" {
			p += "(" + s.Stage + ")"
		}
		if s.Invalid != "" {
			p += "(invalid)"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// listAs lists a kind and returns the resources as their concrete type.
func listAs[T v3.Resource](ctx context.Context, c *resources.Client, kind, namespace string) ([]T, error) {
	rs, _, err := c.List(ctx, kind, resources.ListOptions{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(rs))
	for _, r := range rs {
		t, ok := r.(T)
		if !ok {
			return nil, fmt.Errorf("list %s: got a %T", kind, r)
		}
		out = append(out, t)
	}
	return out, nil
}
