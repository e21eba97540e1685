package notimpl

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
)

// actedOn lists, per kind, the top-level spec fields this version acts on
// (whole or in part: a field with a listed sub-field is here too), with
// where they are consumed. With the list it decides every field.
var actedOn = map[string][]string{
	// internal/ipam (pools.go): cidr, blockSize, nodeSelector, disabled,
	// allowedUses; internal/bgp/birdcfg (pools.go): cidr, disableBGPExport.
	v3.KindIPPool:        {"cidr", "blockSize", "nodeSelector", "disabled", "disableBGPExport", "allowedUses"},
	v3.KindIPReservation: {"reservedCIDRs"}, // internal/ipam
	// internal/agent/calc (routes, neighbours, status keys) and
	// internal/agent/policy (labels, sets, named ports, anti-spoofing).
	v3.KindWorkloadEndpoint: {"orchestrator", "workload", "node", "containerID", "pod", "endpoint", "serviceAccountName",
		"ipNetworks", "ipv4Gateway", "ipv6Gateway", "profiles", "interfaceName", "mac", "ports", "allowSpoofedSourcePrefixes"},
	v3.KindHostEndpoint: {"node", "interfaceName", "expectedIPs", "profiles", "ports"}, // internal/agent/policy
	v3.KindProfile:      {"ingress", "egress", "labelsToApply"},                        // internal/agent/policy
	v3.KindNetworkPolicy: {"tier", "order", "ingress", "egress", "selector", "types",
		"serviceAccountSelector"}, // internal/agent/policy
	v3.KindGlobalNetworkPolicy: {"tier", "order", "ingress", "egress", "selector", "types", "doNotTrack", "preDNAT",
		"applyOnForward", "serviceAccountSelector", "namespaceSelector"}, // internal/agent/policy
	v3.KindTier:             {"order", "defaultAction"}, // internal/agent/policy
	v3.KindNetworkSet:       {"nets"},                   // internal/agent/policy
	v3.KindGlobalNetworkSet: {"nets"},                   // internal/agent/policy
	// Descriptions of the cluster, not settings (calicoctl version shows
	// some).
	v3.KindClusterInformation: {"clusterGUID", "clusterType", "calicoVersion", "variant"},
	// internal/bgp/birdcfg (nodes.go): bgp. Descriptions calico-node
	// writes: orchRefs, addresses, interfaces.
	v3.KindNode: {"bgp", "orchRefs", "addresses", "interfaces"},
	// internal/bgp/birdcfg.
	v3.KindBGPConfiguration: {"logSeverityScreen", "nodeToNodeMeshEnabled", "asNumber", "listenPort", "nodeMeshPassword",
		"nodeMeshMaxRestartTime", "bindMode", "ignoredInterfaces"},
	v3.KindBGPPeer: {"node", "nodeSelector", "peerIP", "asNumber", "peerSelector", "keepOriginalNextHop", "nextHopMode",
		"password", "sourceAddress", "maxRestartTime", "numAllowedLocalASNumbers", "ttlSecurity", "localASNumber",
		"keepaliveTime", "reversePeering"},
	// internal/agent/config (and internal/node/agent.go for the Go
	// runtime, health and metrics settings).
	v3.KindFelixConfiguration: {"ipv6Support", "routeRefreshInterval", "openstackRegion", "interfacePrefix",
		"defaultEndpointToHostAction", "logSeverityScreen", "reportingInterval", "reportingTTL", "endpointReportingEnabled",
		"endpointReportingDelay", "healthEnabled", "healthHost", "healthPort", "prometheusMetricsEnabled",
		"prometheusMetricsHost", "prometheusMetricsPort", "failsafeInboundHostPorts", "failsafeOutboundHostPorts",
		"deviceRouteProtocol", "ipForwarding", "debugMemoryProfilePath", "workloadSourceSpoofing", "goGCThreshold",
		"goMemoryLimitMB"},
}

// specFields returns the JSON names of kind's spec fields.
func specFields(t *testing.T, info *v3.KindInfo) []string {
	t.Helper()
	st, ok := reflect.TypeOf(info.New()).Elem().FieldByName("Spec")
	if !ok {
		t.Fatalf("%s has no Spec", info.Kind)
	}
	var out []string
	for i := range st.Type.NumField() {
		name, _, _ := strings.Cut(st.Type.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

// TestEveryFieldIsDecided: every spec field of every kind is either
// listed here or acted on (actedOn above, with where); a new field must be
// decided before the test passes.
func TestEveryFieldIsDecided(t *testing.T) {
	for _, info := range v3.Kinds() {
		whole := false
		listed := map[string]bool{}
		for _, f := range fields {
			if f.Kind != info.Kind {
				continue
			}
			if f.Path == "" && f.skip == nil {
				whole = true
			}
			if rest, ok := strings.CutPrefix(f.Path, "spec."); ok {
				top, _, _ := strings.Cut(rest, ".")
				listed[strings.TrimSuffix(top, "[]")] = true
			}
		}
		acted := actedOn[info.Kind]
		for _, name := range specFields(t, info) {
			switch {
			case whole:
				if slices.Contains(acted, name) {
					t.Errorf("%s spec.%s: the whole kind is listed, yet the field is said to be acted on", info.Kind, name)
				}
			case !listed[name] && !slices.Contains(acted, name):
				t.Errorf("%s spec.%s is neither listed as not implemented nor acted on: decide which", info.Kind, name)
			}
		}
		for _, name := range acted {
			if !slices.Contains(specFields(t, info), name) {
				t.Errorf("%s: actedOn names spec.%s, which the type does not have", info.Kind, name)
			}
		}
	}
}

// TestEntriesAreWellFormed: every entry names a kind, a path that exists
// in the Go type, quiet values of the field's type, a reason, and a scope
// exactly when it skips objects; no entry is listed twice.
func TestEntriesAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range fields {
		id := f.Kind + " " + f.Path + " " + f.Scope
		if seen[id] {
			t.Errorf("%s: listed twice", id)
		}
		seen[id] = true
		info, ok := v3.LookupKind(f.Kind)
		if !ok || info.Kind != f.Kind {
			t.Errorf("%s: not a kind", id)
			continue
		}
		if f.Why == "" {
			t.Errorf("%s: no reason", id)
		}
		if (f.Scope == "") != (f.skip == nil) {
			t.Errorf("%s: Scope %q with skip %v: a scope says what skip keeps", id, f.Scope, f.skip != nil)
		}
		if f.Path == "" {
			if len(f.Quiet) > 0 {
				t.Errorf("%s: a whole object has no quiet values", id)
			}
			continue
		}
		typ, err := fieldType(reflect.TypeOf(info.New()).Elem(), splitPath(f.Path))
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		for _, q := range f.Quiet {
			if err := json.Unmarshal([]byte(q), reflect.New(typ).Interface()); err != nil {
				t.Errorf("%s: quiet value %s is not a %s: %v", id, q, typ, err)
			}
		}
	}
}

// fieldType walks a type along path segments as resolve walks values.
func fieldType(t reflect.Type, segs []string) (reflect.Type, error) {
	for i, seg := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if seg == "[]" {
			if t.Kind() != reflect.Slice {
				return nil, fmt.Errorf("%s is not a list", strings.Join(segs[:i], "."))
			}
			t = t.Elem()
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("%s is not an object", strings.Join(segs[:i], "."))
		}
		sf, ok := fieldTypeByJSONName(t, seg)
		if !ok {
			return nil, fmt.Errorf("no field %q in %s", seg, t)
		}
		t = sf
	}
	return t, nil
}

func fieldTypeByJSONName(t reflect.Type, name string) (reflect.Type, bool) {
	v, ok := fieldByJSONName(reflect.New(t).Elem(), name)
	if !ok {
		return nil, false
	}
	return v.Type(), true
}

// TestFindEachEntry: for every entry, a resource with the field set to a
// value not quiet gives exactly that finding; unset, or set to each quiet
// value, it gives none; objects outside the entry's scope give none.
func TestFindEachEntry(t *testing.T) {
	for _, f := range fields {
		if f.Path == "" {
			continue
		}
		t.Run(f.Kind+"/"+f.Path+"/"+f.Scope, func(t *testing.T) {
			info, _ := v3.LookupKind(f.Kind)
			segs := splitPath(f.Path)
			newRes := func(name string) v3.Resource {
				r := info.New()
				r.GetObjectMeta().Name = name
				return r
			}
			// In every entry's scope: a node.<name> configuration, not
			// a default pool.
			const name = "node.x"
			// Unset.
			if got := Find(newRes(name)); len(got) > 0 {
				t.Errorf("unset: findings %v", got)
			}
			// A sample value.
			r := newRes(name)
			set(t, reflect.ValueOf(r).Elem(), segs, func(typ reflect.Type) reflect.Value { return sample(typ, f.Quiet) })
			want := strings.ReplaceAll(f.Path, "[]", "[0]")
			got := Find(r)
			if len(got) != 1 || got[0].Path != want {
				t.Fatalf("set: findings %v, want one at %s", got, want)
			}
			if got[0].Value == "" || got[0].Why != f.Why {
				t.Errorf("set: finding %+v lacks the value or the reason", got[0])
			}
			// Outside the scope.
			if f.skip != nil {
				out := newRes("default")
				if f.Kind == v3.KindIPPool {
					out = newRes("default-ipv4-ippool")
				}
				if !f.skip(out) {
					t.Fatalf("test object %q is in scope %q", out.GetObjectMeta().Name, f.Scope)
				}
				set(t, reflect.ValueOf(out).Elem(), segs, func(typ reflect.Type) reflect.Value { return sample(typ, f.Quiet) })
				if got := Find(out); len(got) > 0 {
					t.Errorf("out of scope: findings %v", got)
				}
			}
			// Each quiet value.
			for _, q := range f.Quiet {
				r := newRes(name)
				set(t, reflect.ValueOf(r).Elem(), segs, func(typ reflect.Type) reflect.Value {
					v := reflect.New(typ)
					if err := json.Unmarshal([]byte(q), v.Interface()); err != nil {
						t.Fatal(err)
					}
					return v.Elem()
				})
				if got := Find(r); len(got) > 0 {
					t.Errorf("quiet %s: findings %v", q, got)
				}
			}
		})
	}
}

// set walks v along segs, creating what is missing (one list item for
// "[]"), and sets the leaf to leaf(its type).
func set(t *testing.T, v reflect.Value, segs []string, leaf func(reflect.Type) reflect.Value) {
	t.Helper()
	if len(segs) == 0 {
		v.Set(leaf(v.Type()))
		return
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if segs[0] == "[]" {
		s := reflect.MakeSlice(v.Type(), 1, 1)
		v.Set(s)
		set(t, v.Index(0), segs[1:], leaf)
		return
	}
	fv, ok := fieldByJSONName(v, segs[0])
	if !ok {
		t.Fatalf("no field %q in %s", segs[0], v.Type())
	}
	set(t, fv, segs[1:], leaf)
}

// sample returns a value of typ that is set and not among quiet.
func sample(typ reflect.Type, quiet []string) reflect.Value {
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(typ.Elem()))
		v.Elem().Set(sample(typ.Elem(), quiet))
	case reflect.String:
		v.SetString("sample")
	case reflect.Bool:
		v.SetBool(!slices.Contains(quiet, "true"))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		s := reflect.MakeSlice(typ, 1, 1)
		s.Index(0).Set(sample(typ.Elem(), nil))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(typ)
		m.SetMapIndex(sample(typ.Key(), nil), sample(typ.Elem(), nil))
		v.Set(m)
	case reflect.Struct:
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() {
				v.Field(i).Set(sample(typ.Field(i).Type, nil))
				break
			}
		}
	}
	return v
}

// TestFindMessages: the sentences calicoctl prints and the agent logs,
// for typical resources; upstream's defaults written on every
// FelixConfiguration, and calico-node's default pool, need no warning.
func TestFindMessages(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"encapsulation and NAT", `{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p1"},
			"spec":{"cidr":"10.1.0.0/16","vxlanMode":"Always","ipipMode":"Never","natOutgoing":true}}`, []string{
			`IPPool "p1": spec.vxlanMode "Always" is not implemented by this version; stored but not acted on (` + whyEncap + `)`,
			`IPPool "p1": spec.natOutgoing true is not implemented by this version; stored but not acted on (` + whyNAT + `)`,
		}},
		{"default pool", `{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},
			"spec":{"cidr":"192.168.0.0/16","vxlanMode":"Never","ipipMode":"Never","natOutgoing":true,"nodeSelector":"all()"}}`, nil},
		{"rules", `{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"web","namespace":"prod"},
			"spec":{"ingress":[{"action":"Allow"},{"action":"Allow","protocol":"TCP","http":{"methods":["GET"]}}],
			"egress":[{"action":"Allow","destination":{"services":{"name":"api","namespace":"prod"}}}]}}`, []string{
			`NetworkPolicy "prod/web": spec.ingress[1].http {"methods":["GET"]} is not implemented by this version; stored but not acted on ` +
				`(no layer-7 (HTTP) enforcement: a rule with an http match is left out, so it matches nothing)`,
			`NetworkPolicy "prod/web": spec.egress[0].destination.services {"name":"api","namespace":"prod"} is not implemented by this version; ` +
				`stored but not acted on (no Kubernetes Services in the datastore: a rule matching services is left out, so it matches nothing)`,
		}},
		{"upstream's defaults", `{"kind":"FelixConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"node.node-b"},
			"spec":{"nftablesMode":"Auto","bpfLogLevel":"","bpfConnectTimeLoadBalancing":"TCP",
			"bpfHostNetworkedNATWithoutCTLB":"Enabled","floatingIPs":"Disabled"}}`, nil},
		{"calico-node's defaults", `{"kind":"FelixConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},
			"spec":{"reportingInterval":"0s","logSeverityScreen":"Info","nftablesMode":"Auto","bpfLogLevel":""}}`, nil},
		{"selector-scoped", `{"kind":"FelixConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"edge-nodes"},
			"spec":{"wireguardEnabled":false,"bpfEnabled":true}}`, []string{
			`FelixConfiguration "edge-nodes": a FelixConfiguration named other than "default" or "node.<name>" is not implemented ` +
				`by this version; stored but not acted on (selector-scoped configurations are not applied: only "default" and "node.<name>" are)`,
			`FelixConfiguration "edge-nodes": spec.bpfEnabled true is not implemented by this version; stored but not acted on (no eBPF dataplane)`,
		}},
		{"whole kind", `{"kind":"KubeControllersConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},"spec":{}}`,
			[]string{`KubeControllersConfiguration "default": the kind KubeControllersConfiguration is not implemented by this version; ` +
				`stored but not acted on (` + whyKubeC + `)`}},
		{"per-node BGP", `{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"node.a"},
			"spec":{"asNumber":65001,"listenPort":1790,"serviceLoadBalancerAggregation":"Enabled"}}`, []string{
			`BGPConfiguration "node.a": spec.asNumber 65001 is not implemented by this version; stored but not acted on ` +
				`(the AS number comes from the Node (spec.bgp.asNumber) or BGPConfiguration "default" only)`,
		}},
		{"global BGP", `{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},
			"spec":{"asNumber":65001,"listenPort":1790,"serviceClusterIPs":[{"cidr":"10.96.0.0/12"}]}}`, []string{
			`BGPConfiguration "default": spec.serviceClusterIPs [{"cidr":"10.96.0.0/12"}] is not implemented by this version; ` +
				`stored but not acted on (` + whyBGPSv + `)`,
		}},
		{"long value", `{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"g"},
			"spec":{"ingress":[{"action":"Allow","protocol":"TCP","http":{"paths":[{"prefix":"/a-very-long-path/that-goes-on/and-on"},
			{"exact":"/and-on/and-on/and-on"}]}}]}}`, []string{
			`GlobalNetworkPolicy "g": spec.ingress[0].http {"paths":[{"prefix":"/a-very-long-path/that-goes-on/and-on"},{"exact":"/and-o... ` +
				`is not implemented by this version; stored but not acted on (no layer-7 (HTTP) enforcement: a rule with an http match is left out, so it matches nothing)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := v3.Decode([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range Find(r) {
				got = append(got, f.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}
