package datastore_test

import (
	"strconv"
	"strings"
	"testing"

	v3 "github.com/gocalico/calico/api/v3"
)

// sample is a small valid resource of one kind.
type sample struct {
	ns, name string
	doc      string // YAML; its metadata gets labels added by the test
}

// samples has one resource per kind. TestRoundTripEveryKind fails for a
// kind without one, so a new kind cannot skip the round trip.
var samples = map[string]sample{
	"Node": {name: "node1", doc: `
kind: Node
metadata: {name: node1}
spec:
  bgp: {ipv4Address: 10.0.0.1/24, asNumber: 64512}`},
	"WorkloadEndpoint": {ns: "ns1", name: "node1-k8s-pod1-eth0", doc: `
kind: WorkloadEndpoint
metadata: {name: node1-k8s-pod1-eth0, namespace: ns1}
spec:
  orchestrator: k8s
  node: node1
  pod: pod1
  endpoint: eth0
  interfaceName: cali0123456789a
  ipNetworks: [10.65.0.1/32]
  profiles: [kns.ns1]`},
	"HostEndpoint": {name: "hep1", doc: `
kind: HostEndpoint
metadata: {name: hep1}
spec: {node: node1, interfaceName: eth0, expectedIPs: [10.0.0.1]}`},
	"Profile": {name: "prof1", doc: `
kind: Profile
metadata: {name: prof1}
spec:
  ingress: [{action: Allow}]
  labelsToApply: {team: web}`},
	"Tier": {name: "t1", doc: `
kind: Tier
metadata: {name: t1}
spec: {order: 100}`},
	"NetworkPolicy": {ns: "ns1", name: "np1", doc: `
kind: NetworkPolicy
metadata: {name: np1, namespace: ns1}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [80, "8000:8080"]}`},
	"GlobalNetworkPolicy": {name: "gnp1", doc: `
kind: GlobalNetworkPolicy
metadata: {name: gnp1}
spec:
  order: 10
  selector: all()
  egress: [{action: Deny}]`},
	"StagedNetworkPolicy": {ns: "ns1", name: "snp1", doc: `
kind: StagedNetworkPolicy
metadata: {name: snp1, namespace: ns1}
spec:
  stagedAction: Set
  selector: app == 'db'
  ingress: [{action: Allow}]`},
	"StagedGlobalNetworkPolicy": {name: "sgnp1", doc: `
kind: StagedGlobalNetworkPolicy
metadata: {name: sgnp1}
spec:
  stagedAction: Set
  selector: all()
  ingress: [{action: Deny}]`},
	"NetworkSet": {ns: "ns1", name: "nset1", doc: `
kind: NetworkSet
metadata: {name: nset1, namespace: ns1}
spec: {nets: [10.1.0.0/16]}`},
	"GlobalNetworkSet": {name: "gns1", doc: `
kind: GlobalNetworkSet
metadata: {name: gns1}
spec: {nets: [192.0.2.0/24, 2001:db8::/32]}`},
	"IPPool": {name: "pool1", doc: `
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.65.0.0/16, natOutgoing: true}`},
	"IPReservation": {name: "ipr1", doc: `
kind: IPReservation
metadata: {name: ipr1}
spec: {reservedCIDRs: [10.65.1.0/24]}`},
	"BGPConfiguration": {name: "default", doc: `
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMeshEnabled: true}`},
	"BGPPeer": {name: "peer1", doc: `
kind: BGPPeer
metadata: {name: peer1}
spec: {peerIP: 10.0.0.254, asNumber: 64513}`},
	"BGPFilter": {name: "filter1", doc: `
kind: BGPFilter
metadata: {name: filter1}
spec:
  exportV4: [{action: Accept, matchOperator: In, cidr: 10.0.0.0/8}]`},
	"FelixConfiguration": {name: "default", doc: `
kind: FelixConfiguration
metadata: {name: default}
spec: {logSeverityScreen: Info}`},
	"ClusterInformation": {name: "default", doc: `
kind: ClusterInformation
metadata: {name: default}
spec: {calicoVersion: v3.30.0, clusterType: "etcd,bgp"}`},
	"KubeControllersConfiguration": {name: "default", doc: `
kind: KubeControllersConfiguration
metadata: {name: default}
spec: {logSeverityScreen: Info, controllers: {}}`},
}

func isPolicyKind(kind string) bool {
	switch kind {
	case "NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy", "StagedGlobalNetworkPolicy":
		return true
	}
	return false
}

// withLabel returns the sample document with a label added to its
// metadata, and the apiVersion line.
func (s sample) withLabel(key, value string) string {
	doc := "apiVersion: projectcalico.org/v3\n" + strings.TrimSpace(s.doc) + "\n"
	return strings.Replace(doc, "metadata: {", "metadata: {labels: {"+key+": "+value+"}, ", 1)
}

// TestRoundTripEveryKind takes every kind through create, get, apply,
// replace, patch and delete with calicoctl, checking etcd's raw keys and
// values after each step.
func TestRoundTripEveryKind(t *testing.T) {
	e := newEnv(t)
	for _, info := range v3.Kinds() {
		t.Run(info.Kind, func(t *testing.T) {
			s, ok := samples[info.Kind]
			if !ok {
				t.Fatalf("no sample resource for kind %s: add one to samples", info.Kind)
			}
			roundTrip(t, e, info, s)
		})
	}
}

func roundTrip(t *testing.T, e *env, info *v3.KindInfo, s sample) {
	key := keyFor(info, s.ns, s.name)
	nsArgs := []string{}
	if info.Namespaced {
		nsArgs = []string{"-n", s.ns}
	}
	kindArg := strings.ToLower(info.Kind)

	// create
	res := e.ctl.MustRun(t, s.withLabel("step", "create"), "create", "-f", "-")
	mustContain(t, "create output", res.Stdout, "Successfully created 1 '"+info.Kind+"' resource(s)")
	obj, kv := e.rawObject(t, key)
	if obj["kind"] != info.Kind || obj["apiVersion"] != "projectcalico.org/v3" {
		t.Errorf("stored kind/apiVersion = %v/%v", obj["kind"], obj["apiVersion"])
	}
	uid, _ := path(obj, "metadata", "uid").(string)
	created, _ := path(obj, "metadata", "creationTimestamp").(string)
	if len(uid) != 36 || created == "" {
		t.Errorf("stored metadata lacks uid (%q) or creationTimestamp (%q)", uid, created)
	}
	if rv := path(obj, "metadata", "resourceVersion"); rv != nil {
		t.Errorf("stored metadata has resourceVersion %v; it must not be stored", rv)
	}
	if path(obj, "metadata", "labels", "step") != "create" {
		t.Errorf("stored labels = %v", path(obj, "metadata", "labels"))
	}
	if isPolicyKind(info.Kind) {
		ann, _ := path(obj, "metadata", "annotations", "projectcalico.org/metadata").(string)
		if !strings.Contains(ann, `"name":"`+s.name+`"`) {
			t.Errorf("policy annotation projectcalico.org/metadata = %q, want it to hold the name", ann)
		}
	}
	if info.Kind == "WorkloadEndpoint" {
		if l := path(obj, "metadata", "labels", "projectcalico.org/namespace"); l != s.ns {
			t.Errorf("WEP label projectcalico.org/namespace = %v, want %s", l, s.ns)
		}
		if l := path(obj, "metadata", "labels", "projectcalico.org/orchestrator"); l != "k8s" {
			t.Errorf("WEP label projectcalico.org/orchestrator = %v, want k8s", l)
		}
	}
	want := yamlObject(t, s.doc)
	if d := subsetDiff(want["spec"], obj["spec"], "spec"); len(d) > 0 {
		t.Errorf("stored spec differs from input:\n%s", strings.Join(d, "\n"))
	}

	// get -o yaml: the resource, with resourceVersion = mod revision.
	getArgs := append([]string{"get", kindArg, s.name, "-o", "yaml"}, nsArgs...)
	got := yamlObject(t, e.ctl.MustRun(t, "", getArgs...).Stdout)
	if rv := path(got, "metadata", "resourceVersion"); rv != strconv.FormatInt(kv.ModRevision, 10) {
		t.Errorf("get resourceVersion = %v, want mod revision %d", rv, kv.ModRevision)
	}
	if path(got, "metadata", "name") != s.name || path(got, "metadata", "uid") != uid {
		t.Errorf("get metadata = %v", got["metadata"])
	}
	if d := subsetDiff(want["spec"], got["spec"], "spec"); len(d) > 0 {
		t.Errorf("get spec differs from input:\n%s", strings.Join(d, "\n"))
	}
	staleYAML := e.ctl.MustRun(t, "", getArgs...).Stdout

	// create again: exists.
	res = e.ctl.Run(t, s.withLabel("step", "create"), "create", "-f", "-")
	if res.Code != 1 || !strings.Contains(res.Stderr, "already exists") {
		t.Errorf("second create: exit %d, stderr %q; want exit 1 and 'already exists'", res.Code, res.Stderr)
	}

	// apply updates in place, keeping uid and creationTimestamp.
	res = e.ctl.MustRun(t, s.withLabel("step", "apply"), "apply", "-f", "-")
	mustContain(t, "apply output", res.Stdout, "Successfully applied 1 '"+info.Kind+"' resource(s)")
	obj, kv2 := e.rawObject(t, key)
	if path(obj, "metadata", "labels", "step") != "apply" || kv2.ModRevision <= kv.ModRevision {
		t.Errorf("after apply: labels %v, revision %d (was %d)", path(obj, "metadata", "labels"), kv2.ModRevision, kv.ModRevision)
	}
	if path(obj, "metadata", "uid") != uid || path(obj, "metadata", "creationTimestamp") != created {
		t.Errorf("apply changed uid/creationTimestamp: %v", obj["metadata"])
	}

	// replace without resourceVersion replaces the current version.
	e.ctl.MustRun(t, s.withLabel("step", "replace"), "replace", "-f", "-")
	obj, _ = e.rawObject(t, key)
	if path(obj, "metadata", "labels", "step") != "replace" {
		t.Errorf("after replace: labels %v", path(obj, "metadata", "labels"))
	}

	// replace with a stale resourceVersion: conflict, nothing written.
	before := e.rawKV(t, key).ModRevision
	res = e.ctl.Run(t, staleYAML, "replace", "-f", "-")
	if res.Code != 1 || !strings.Contains(res.Stderr, "conflict") {
		t.Errorf("stale replace: exit %d, stderr %q; want exit 1 and a conflict", res.Code, res.Stderr)
	}
	if after := e.rawKV(t, key).ModRevision; after != before {
		t.Errorf("stale replace wrote the key (revision %d -> %d)", before, after)
	}

	// patch merges into the stored resource.
	patchArgs := append([]string{"patch", kindArg, s.name, "-p", `{"metadata":{"labels":{"patched":"yes"}}}`}, nsArgs...)
	res = e.ctl.MustRun(t, "", patchArgs...)
	mustContain(t, "patch output", res.Stdout, "Successfully patched 1 '"+info.Kind+"' resource(s)")
	obj, _ = e.rawObject(t, key)
	if path(obj, "metadata", "labels", "patched") != "yes" || path(obj, "metadata", "labels", "step") != "replace" {
		t.Errorf("after patch: labels %v", path(obj, "metadata", "labels"))
	}
	if d := subsetDiff(want["spec"], obj["spec"], "spec"); len(d) > 0 {
		t.Errorf("patch changed the spec:\n%s", strings.Join(d, "\n"))
	}

	// delete, then delete again.
	delArgs := append([]string{"delete", kindArg, s.name}, nsArgs...)
	res = e.ctl.MustRun(t, "", delArgs...)
	mustContain(t, "delete output", res.Stdout, "Successfully deleted 1 '"+info.Kind+"' resource(s)")
	if kv := e.rawKV(t, key); kv != nil {
		t.Errorf("key %s still in etcd after delete", key)
	}
	res = e.ctl.Run(t, "", delArgs...)
	if res.Code != 1 || !strings.Contains(res.Stderr, "does not exist") {
		t.Errorf("second delete: exit %d, stderr %q", res.Code, res.Stderr)
	}
	e.ctl.MustRun(t, "", append(delArgs, "--skip-not-exists")...)
}
