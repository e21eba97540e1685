package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// selectingDocs splits YAML documents into the policy resources and the
// endpoints, by "<namespace>/<name>" ("/<name>" for host endpoints).
func selectingDocs(t *testing.T, docs string) (PolicyResources, map[string]v3.Resource) {
	t.Helper()
	var res PolicyResources
	eps := map[string]v3.Resource{}
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		r, err := v3.Decode([]byte(d))
		if err != nil {
			t.Fatalf("decode %q: %v", d, err)
		}
		switch o := r.(type) {
		case *v3.Tier:
			res.Tiers = append(res.Tiers, o)
		case *v3.GlobalNetworkPolicy:
			res.GlobalNetworkPolicies = append(res.GlobalNetworkPolicies, o)
		case *v3.NetworkPolicy:
			res.NetworkPolicies = append(res.NetworkPolicies, o)
		case *v3.Profile:
			res.Profiles = append(res.Profiles, o)
		case *v3.WorkloadEndpoint, *v3.HostEndpoint:
			m := r.GetObjectMeta()
			eps[m.Namespace+"/"+m.Name] = r
		default:
			t.Fatalf("unexpected %T", r)
		}
	}
	return res, eps
}

// brief is a SelectingPolicy in one line: tier/name (tier/namespace/name
// for a NetworkPolicy), its directions, and "invalid" if it fails closed.
func brief(s SelectingPolicy) string {
	name := strings.Join([]string{s.Tier, s.Namespace, s.Name}, "/")
	if s.Namespace == "" {
		name = s.Tier + "/" + s.Name
	}
	var dirs []string
	if s.Ingress {
		dirs = append(dirs, "in")
	}
	if s.Egress {
		dirs = append(dirs, "out")
	}
	out := name + " " + strings.Join(dirs, "+")
	if s.Stage != "" {
		out += " " + s.Stage
	}
	if s.Invalid != "" {
		out += " invalid"
	}
	return out
}

// Endpoints shared by the cases: workloads in prod and dev, with the
// namespace and service account profiles kube-controllers writes, and a
// host endpoint.
const selectingEndpoints = `
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: kns.prod}
spec: {labelsToApply: {pcns.projectcalico.org/name: prod, pcns.env: production}}
---
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: kns.dev}
spec: {labelsToApply: {pcns.projectcalico.org/name: dev, pcns.env: dev}}
---
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: ksa.prod.api}
spec: {labelsToApply: {pcsa.projectcalico.org/name: api, pcsa.role: backend}}
---
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: team-blue}
spec: {labelsToApply: {team: blue, app: from-profile, color: blue}}
---
kind: Profile
apiVersion: projectcalico.org/v3
metadata: {name: team-red}
spec: {labelsToApply: {team: red, color: red}}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {node: host1, orchestrator: k8s, pod: web, endpoint: eth0, profiles: [kns.prod, team-blue, team-red]}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: api, namespace: prod, labels: {app: api}}
spec: {node: host1, orchestrator: k8s, pod: api, endpoint: eth0, serviceAccountName: api,
  profiles: [kns.prod, ksa.prod.api]}
---
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: web, namespace: dev, labels: {app: web, pcns.env: production, pcsa.role: backend}}
spec: {node: host1, orchestrator: k8s, pod: web, endpoint: eth0, profiles: [kns.dev]}
---
kind: HostEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-eth0, labels: {app: web, role: gateway}}
spec: {node: host1, interfaceName: eth0, profiles: [team-red]}
`

func TestSelecting(t *testing.T) {
	tests := []struct {
		name string
		docs string
		want map[string][]string // by endpoint; endpoints not listed: none
	}{{
		name: "NetworkPolicy only selects its own namespace",
		docs: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all-prod, namespace: prod}
spec: {selector: all()}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: web, namespace: dev}
spec: {selector: app == 'web'}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: no-selector, namespace: dev}
spec: {}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: fake-namespace-label, namespace: dev}
spec: {selector: projectcalico.org/namespace == 'prod'}
`,
		want: map[string][]string{
			"prod/web": {"default/prod/all-prod in"},
			"prod/api": {"default/prod/all-prod in"},
			"dev/web":  {"default/dev/no-selector in", "default/dev/web in"},
		},
	}, {
		name: "namespaceSelector matches the namespace profile's labels",
		docs: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: production}
spec: {namespaceSelector: env == 'production', selector: app == 'web'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: by-name}
spec: {namespaceSelector: projectcalico.org/name == 'dev'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: any-namespace}
spec: {namespaceSelector: all(), selector: app == 'web'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: everything}
spec: {selector: app == 'web'}
`,
		// dev/web claims pcns.env=production itself: not believed. The
		// host endpoint has no namespace.
		want: map[string][]string{
			"prod/web":    {"default/any-namespace in", "default/everything in", "default/production in"},
			"dev/web":     {"default/any-namespace in", "default/by-name in", "default/everything in"},
			"/host1-eth0": {"default/everything in"},
		},
	}, {
		name: "serviceAccountSelector matches the account profile's labels",
		docs: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: backends}
spec: {serviceAccountSelector: role == 'backend'}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: api-account, namespace: prod}
spec: {serviceAccountSelector: projectcalico.org/name == 'api'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: by-account-label}
spec: {selector: projectcalico.org/serviceaccount == 'api'}
`,
		want: map[string][]string{
			"prod/api": {"default/prod/api-account in", "default/backends in", "default/by-account-label in"},
		},
	}, {
		name: "profiles hand their labels down; own labels and earlier profiles win",
		docs: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: blue-team}
spec: {selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: red-team}
spec: {selector: team == 'red'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: from-profile}
spec: {selector: app == 'from-profile'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: red-color}
spec: {selector: color == 'red'}
`,
		want: map[string][]string{
			"prod/web":    {"default/blue-team in"},
			"/host1-eth0": {"default/red-color in", "default/red-team in"},
		},
	}, {
		name: "tiers by order, unset last, then name; missing tiers after all",
		docs: `
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: default}
spec: {order: 1000000}
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: security}
spec: {order: 100}
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: platform}
spec: {order: 200}
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: zz-unordered}
spec: {}
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: aa-unordered}
spec: {}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: ghost.p}
spec: {tier: ghost, order: 1, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: zz-unordered.p}
spec: {tier: zz-unordered, order: 1, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: aa-unordered.p}
spec: {tier: aa-unordered, order: 1, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: default-first}
spec: {order: 1, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: platform.late}
spec: {tier: platform, order: 500, selector: team == 'blue'}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: platform.early, namespace: prod}
spec: {tier: platform, order: 5, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: platform.b-unordered}
spec: {tier: platform, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: platform.a-unordered}
spec: {tier: platform, selector: team == 'blue'}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.same, namespace: prod}
spec: {tier: security, order: 10, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.same}
spec: {tier: security, order: 10, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: zz-undotted}
spec: {tier: security, order: 10, selector: team == 'blue'}
`,
		// Ties within a tier are broken by "name/namespace/kind" with
		// the name as stored: "default.zz-undotted" comes before
		// "security.same//GlobalNetworkPolicy", which comes before
		// "security.same/prod/NetworkPolicy".
		want: map[string][]string{
			"prod/web": {
				"security/zz-undotted in", "security/security.same in", "security/prod/security.same in",
				"platform/prod/platform.early in", "platform/platform.late in",
				"platform/platform.a-unordered in", "platform/platform.b-unordered in",
				"default/default-first in",
				"aa-unordered/aa-unordered.p in", "zz-unordered/zz-unordered.p in",
				"ghost/ghost.p in",
			},
		},
	}, {
		name: "types, and their default from the rules",
		docs: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: a-no-rules, namespace: dev}
spec: {}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: b-ingress-rules, namespace: dev}
spec: {ingress: [{action: Allow}]}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: c-egress-rules, namespace: dev}
spec: {egress: [{action: Allow}]}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: d-both-rules, namespace: dev}
spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: e-egress-type, namespace: dev}
spec: {types: [Egress], ingress: [{action: Allow}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: f-both-types}
spec: {selector: app == 'web', types: [Ingress, Egress]}
`,
		// With no types the agent applies a policy to ingress, and to
		// egress when it has egress rules. (Written through the
		// datastore client, types are always set: egress rules alone
		// give [Egress].)
		want: map[string][]string{
			"dev/web": {"default/dev/a-no-rules in", "default/dev/b-ingress-rules in", "default/dev/c-egress-rules in+out",
				"default/dev/d-both-rules in+out", "default/dev/e-egress-type out", "default/f-both-types in+out"},
			"prod/web":    {"default/f-both-types in+out"},
			"/host1-eth0": {"default/f-both-types in+out"},
		},
	}, {
		name: "doNotTrack and preDNAT policies select host endpoints only, preDNAT ones for ingress",
		docs: `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: untracked}
spec: {selector: all(), doNotTrack: true, applyOnForward: true}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: pre-dnat}
spec: {selector: all(), preDNAT: true, applyOnForward: true}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: forward}
spec: {selector: role == 'gateway', applyOnForward: true}
`,
		want: map[string][]string{"/host1-eth0": {"default/forward in", "default/pre-dnat in preDNAT", "default/untracked in doNotTrack"}},
	}, {
		name: "a policy that cannot be parsed fails closed in its scope",
		docs: `
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: broken, namespace: prod}
spec: {selector: "app == ", types: [Egress]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: broken-global}
spec: {selector: all(), namespaceSelector: "(((", types: [Ingress]}
`,
		want: map[string][]string{
			"prod/web":    {"default/broken-global in+out invalid", "default/prod/broken in+out invalid"},
			"prod/api":    {"default/broken-global in+out invalid", "default/prod/broken in+out invalid"},
			"dev/web":     {"default/broken-global in+out invalid"},
			"/host1-eth0": {"default/broken-global in+out invalid"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, eps := selectingDocs(t, selectingEndpoints+"\n---\n"+tt.docs)
			m := NewMatcher(res)
			got := map[string][]string{}
			for k, ep := range eps {
				sel, err := m.Selecting(ep)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range sel {
					got[k] = append(got[k], brief(s))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selecting policies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectingInvalidSaysWhy(t *testing.T) {
	res, eps := selectingDocs(t, selectingEndpoints+`
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: broken, namespace: prod}
spec: {selector: "app == "}
`)
	got, err := Selecting(eps["prod/web"], res)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0].Invalid, "spec.selector: ") {
		t.Errorf("got %+v, want one policy invalid at spec.selector", got)
	}
}

func TestSelectingRejectsOtherKinds(t *testing.T) {
	if _, err := Selecting(v3.NewNetworkPolicy(), PolicyResources{}); err == nil {
		t.Error("a NetworkPolicy as the endpoint: no error")
	}
}

// TestSelectingAgreesWithCalc: for every local workload and host
// endpoint, the policies Selecting lists per direction are, in order,
// those the agent's chains jump to.
func TestSelectingAgreesWithCalc(t *testing.T) {
	docs := selectingEndpoints + `
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: security}
spec: {order: 100}
---
kind: Tier
apiVersion: projectcalico.org/v3
metadata: {name: default}
spec: {order: 1000000}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.prod-web}
spec: {tier: security, order: 10, namespaceSelector: env == 'production', selector: app == 'web',
  egress: [{action: Pass}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.backends}
spec: {tier: security, order: 10, serviceAccountSelector: role == 'backend', types: [Egress]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: zzz-undotted}
spec: {tier: security, order: 10, selector: team == 'blue'}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: blue}
spec: {selector: team == 'blue', ingress: [{action: Allow}], egress: [{action: Allow}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: untracked}
spec: {selector: all(), doNotTrack: true, applyOnForward: true, ingress: [{action: Allow}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: security.gateway}
spec: {tier: security, selector: role == 'gateway', applyOnForward: true, ingress: [{action: Allow}]}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: all, namespace: prod}
spec: {selector: all(), ingress: [{action: Allow}]}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: broken, namespace: dev}
spec: {selector: "app ==", ingress: [{action: Allow}]}
---
kind: NetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: web, namespace: dev}
spec: {order: 1, selector: app == 'web', types: [Ingress, Egress]}
`
	res, eps := selectingDocs(t, docs)
	var ups []syncer.Update
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		r, err := v3.Decode([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		key, err := resources.KeyOf(r)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, syncer.Update{Type: syncer.UpdateNew, Key: key, Value: r})
	}
	c := NewCalc("host1", nil)
	c.OnUpdates(ups)
	if len(c.locals) != 4 {
		t.Fatalf("%d local endpoints, want 3 workloads and a host endpoint", len(c.locals))
	}
	m := NewMatcher(res)
	for key, l := range c.locals {
		name := func(id string) string {
			p := c.policies[id]
			return fmt.Sprintf("%s %s/%s", p.kind, p.namespace, p.name) // the stored name
		}
		// Each stage's policies in evaluation order, stage by stage:
		// doNotTrack, preDNAT, normal.
		var in, out []TierRef
		if l.host {
			e := c.resolveHost(l)
			in = slices.Concat(e.UntrackedIngress, e.PreDNATIngress, e.Ingress)
			out = slices.Concat(e.UntrackedEgress, e.Egress)
		} else {
			e := c.resolve(l)
			in, out = e.Ingress, e.Egress
		}
		var wantIn, wantOut []string
		for _, tr := range in {
			for _, id := range tr.Policies {
				wantIn = append(wantIn, name(id))
			}
		}
		for _, tr := range out {
			for _, id := range tr.Policies {
				wantOut = append(wantOut, name(id))
			}
		}
		sel, err := m.Selecting(eps[key])
		if err != nil {
			t.Fatal(err)
		}
		var gotIn, gotOut []string
		for _, stage := range []string{"doNotTrack", "preDNAT", ""} {
			for _, s := range sel {
				if s.Stage != stage {
					continue
				}
				n := fmt.Sprintf("%s %s/%s", s.Kind, s.Namespace, v3.StoragePolicyName(s.Name))
				if s.Ingress {
					gotIn = append(gotIn, n)
				}
				if s.Egress {
					gotOut = append(gotOut, n)
				}
			}
		}
		if diff := cmp.Diff(wantIn, gotIn); diff != "" {
			t.Errorf("%s ingress (-agent +Selecting):\n%s", key, diff)
		}
		if diff := cmp.Diff(wantOut, gotOut); diff != "" {
			t.Errorf("%s egress (-agent +Selecting):\n%s", key, diff)
		}
		if len(wantIn)+len(wantOut) == 0 {
			t.Errorf("%s: no policy applies; the test proves nothing for it", key)
		}
	}
}
