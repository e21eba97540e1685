package upstream

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/resources"
)

// TestStoredForm writes the same fixtures with each client into its own
// etcd and compares what lands in etcd: the same keys, values that decode
// strictly (no unknown fields) with the other side's types, and the same
// JSON apart from uid and creationTimestamp.
func TestStoredForm(t *testing.T) {
	ctx := testContext(t)
	ours, up := newCluster(t), newCluster(t)

	if err := ours.ours.EnsureInitialized(ctx, "k8s,bgp"); err != nil {
		t.Fatalf("our EnsureInitialized: %v", err)
	}
	if err := up.up.EnsureInitialized(ctx, upstreamVersion, "k8s,bgp"); err != nil {
		t.Fatalf("upstream EnsureInitialized: %v", err)
	}
	for _, fx := range fixtures {
		k := id(fx.kind, fx.namespace, fx.name)
		r, err := v3.DecodeStrict([]byte(fx.manifest))
		if err != nil {
			t.Fatalf("%s: our decode: %v", k, err)
		}
		if _, err := ours.ours.Create(ctx, r); err != nil {
			t.Fatalf("%s: our create: %v", k, err)
		}
		uk := upKinds[fx.kind]
		obj, err := uk.decode([]byte(fx.manifest))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if _, err := uk.create(ctx, up.up, obj); err != nil {
			t.Fatalf("%s: upstream create: %v", k, err)
		}
	}

	ourKV := dump(t, ours)
	upKV := dump(t, up)
	if diff := cmp.Diff(comparableKeys(upKV), comparableKeys(ourKV)); diff != "" {
		t.Errorf("etcd keys differ (-upstream +ours):\n%s", diff)
	}
	for _, key := range sortedKeys(ourKV) {
		t.Run("upstream decodes ours "+strings.TrimPrefix(key, resources.Prefix), func(t *testing.T) {
			info, _, _, ok := resources.ParseKey(key)
			if !ok {
				t.Fatalf("we wrote a key we cannot parse")
			}
			if _, err := upKinds[info.Kind].decode(ourKV[key]); err != nil {
				t.Errorf("stored value: %v\n%s", err, ourKV[key])
			}
		})
	}
	for _, key := range sortedKeys(upKV) {
		t.Run("we decode upstream's "+strings.TrimPrefix(key, resources.Prefix), func(t *testing.T) {
			if _, err := v3.DecodeStrict(upKV[key]); err != nil {
				t.Errorf("stored value: %v\n%s", err, upKV[key])
			}
		})
	}
	// Values are paired by resource identity, so that a policy stored
	// under different keys is still compared.
	upByID := byIdentity(t, upKV)
	for ident, ourValue := range byIdentity(t, ourKV) {
		upValue, ok := upByID[ident]
		if !ok || strings.HasPrefix(ident, "ClusterInformation/") {
			continue // only one side has it, or it holds per-cluster identity
		}
		t.Run("same value "+ident, func(t *testing.T) {
			if diff := cmp.Diff(storedView(t, upValue), storedView(t, ourValue)); diff != "" {
				t.Errorf("stored JSON differs (-upstream +ours):\n%s", diff)
			}
		})
	}
}

// reservedTierKeys are the tiers each side's EnsureInitialized creates
// besides "default". Upstream renamed them after v3.31 (adminnetworkpolicy
// became kube-admin, baselineadminnetworkpolicy became kube-baseline); we
// follow the newer names, so each store has only its own pair. Both pairs
// are ordinary tiers to either reader.
var reservedTierKeys = map[string]bool{
	resources.Prefix + "tiers/adminnetworkpolicy":         true,
	resources.Prefix + "tiers/baselineadminnetworkpolicy": true,
	resources.Prefix + "tiers/" + v3.KubeAdminTierName:    true,
	resources.Prefix + "tiers/" + v3.KubeBaselineTierName: true,
}

func comparableKeys(kvs map[string][]byte) []string {
	var out []string
	for _, k := range sortedKeys(kvs) {
		if !reservedTierKeys[k] {
			out = append(out, k)
		}
	}
	return out
}

// byIdentity indexes stored values by kind, namespace and the resource
// name a client shows (a policy's name comes from its
// projectcalico.org/metadata annotation when present).
func byIdentity(t *testing.T, kvs map[string][]byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for key, value := range kvs {
		info, ns, name, ok := resources.ParseKey(key)
		if !ok {
			t.Errorf("unparseable key %s", key)
			continue
		}
		var stored struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(value, &stored); err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if a, ok := stored.Metadata.Annotations[v3.AnnotationMetadata]; ok {
			var md struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(a), &md); err == nil && md.Name != "" {
				name = md.Name
			}
		}
		out[id(info.Kind, ns, name)] = value
	}
	return out
}

// dump returns every v3 resource key and value in the cluster's etcd.
func dump(t *testing.T, c *cluster) map[string][]byte {
	t.Helper()
	kvs, _, err := c.be.List(testContext(t), resources.Prefix)
	if err != nil {
		t.Fatalf("list %s: %v", resources.Prefix, err)
	}
	out := make(map[string][]byte, len(kvs))
	for _, kv := range kvs {
		out[kv.Key] = kv.Value
	}
	return out
}

// storedView is a stored value as pruned JSON without the fields each
// writer generates (uid, creationTimestamp).
func storedView(t *testing.T, value []byte) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("stored value is not a JSON object: %v", err)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "uid")
		delete(md, "creationTimestamp")
	}
	dropWriterDefaults(m)
	p, _ := prune(m).(map[string]any)
	return p
}

// writerDefaults are values one writer stores and the other leaves out,
// where leaving it out means the same to every reader, so TestStoredForm
// ignores them. Paths are under the stored object.
//
//   - Policies: we store spec.tier "default" and the label
//     projectcalico.org/tier (as upstream does since it applies CRD
//     defaults in etcd mode); upstream v3.31 stores neither for the
//     default tier and fills both in on read (checked by the read tests).
//   - FelixConfiguration: upstream v3.31's client stores three values
//     equal to Felix's own defaults; we store nftablesMode Auto (the CRD
//     default of newer upstream; Felix v3.31 knows only Enabled/Disabled
//     and falls back to its default, Disabled, with a warning).
var writerDefaults = map[string][]struct {
	path  []string
	value any
}{
	"GlobalNetworkPolicy": {{[]string{"spec", "tier"}, "default"}, {[]string{"metadata", "labels", "projectcalico.org/tier"}, "default"}},
	"NetworkPolicy":       {{[]string{"spec", "tier"}, "default"}, {[]string{"metadata", "labels", "projectcalico.org/tier"}, "default"}},
	"FelixConfiguration": {
		{[]string{"spec", "floatingIPs"}, "Disabled"},
		{[]string{"spec", "bpfConnectTimeLoadBalancing"}, "TCP"},
		{[]string{"spec", "bpfHostNetworkedNATWithoutCTLB"}, "Enabled"},
		{[]string{"spec", "nftablesMode"}, "Auto"},
	},
}

func dropWriterDefaults(m map[string]any) {
	kind, _ := m["kind"].(string)
	for _, d := range writerDefaults[kind] {
		parent := m
		for _, p := range d.path[:len(d.path)-1] {
			parent, _ = parent[p].(map[string]any)
		}
		last := d.path[len(d.path)-1]
		if parent != nil && parent[last] == d.value {
			delete(parent, last)
		}
	}
}
