package upstream

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/gocalico/calico/api/v3"
)

// updated are the fixtures updated across clients, as calicoctl apply
// does: read, change a label, write back with the resourceVersion read.
var updated = map[string]bool{
	"IPPool/pool-a": true, "NetworkPolicy/prod/security.isolate": true, "GlobalNetworkSet/blocklist": true,
	"WorkloadEndpoint/prod/node1-k8s-web--0-eth0": true, "FelixConfiguration/default": true, "Node/node1": true,
}

// TestUpdateAcrossClients has upstream update what we created and then
// us update what upstream updated. Each update must pass the other side's
// compare-and-swap on resourceVersion, keep uid and creationTimestamp,
// and be seen by the other side.
func TestUpdateAcrossClients(t *testing.T) {
	ctx := testContext(t)
	c := newCluster(t)
	if err := c.ours.EnsureInitialized(ctx, "k8s,bgp"); err != nil {
		t.Fatalf("our EnsureInitialized: %v", err)
	}
	for _, fx := range fixtures {
		r, err := v3.DecodeStrict([]byte(fx.manifest))
		if err != nil {
			t.Fatalf("%s: our decode: %v", id(fx.kind, fx.namespace, fx.name), err)
		}
		if _, err := c.ours.Create(ctx, r); err != nil {
			t.Fatalf("%s: our create: %v", id(fx.kind, fx.namespace, fx.name), err)
		}
	}
	for _, fx := range fixtures {
		if !updated[id(fx.kind, fx.namespace, fx.name)] {
			continue
		}
		t.Run(id(fx.kind, fx.namespace, fx.name), func(t *testing.T) {
			created, err := c.ours.Get(ctx, fx.kind, fx.namespace, fx.name)
			if err != nil {
				t.Fatalf("our Get: %v", err)
			}
			uk := upKinds[fx.kind]

			// Upstream updates ours.
			obj, err := uk.get(ctx, c.up, fx.namespace, fx.name)
			if err != nil {
				t.Fatalf("upstream Get: %v", err)
			}
			setLabel(obj.(metav1.Object), "updated-by", "upstream")
			upd, err := uk.update(ctx, c.up, obj)
			if err != nil {
				t.Fatalf("upstream Update of our resource: %v", err)
			}
			got, err := c.ours.Get(ctx, fx.kind, fx.namespace, fx.name)
			if err != nil {
				t.Fatalf("our Get after upstream Update: %v", err)
			}
			if diff := cmp.Diff(view(t, upd), view(t, got)); diff != "" {
				t.Errorf("we read upstream's update differently (-upstream +ours):\n%s", diff)
			}
			assertSameIdentity(t, created.GetObjectMeta(), got.GetObjectMeta())

			// We update what upstream wrote.
			got.GetObjectMeta().Labels["updated-by"] = "gocalico"
			ours, err := c.ours.Update(ctx, got)
			if err != nil {
				t.Fatalf("our Update of upstream's write: %v", err)
			}
			back, err := uk.get(ctx, c.up, fx.namespace, fx.name)
			if err != nil {
				t.Fatalf("upstream Get after our Update: %v", err)
			}
			if diff := cmp.Diff(view(t, ours), view(t, back)); diff != "" {
				t.Errorf("upstream reads our update differently (-ours +upstream):\n%s", diff)
			}
			assertSameIdentity(t, created.GetObjectMeta(), ours.GetObjectMeta())
		})
	}
}

func setLabel(o metav1.Object, k, v string) {
	l := o.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[k] = v
	o.SetLabels(l)
}

func assertSameIdentity(t *testing.T, before, after *v3.ObjectMeta) {
	t.Helper()
	if before.UID != after.UID || !before.CreationTimestamp.Equal(after.CreationTimestamp) {
		t.Errorf("identity changed: uid %s -> %s, creationTimestamp %v -> %v",
			before.UID, after.UID, before.CreationTimestamp, after.CreationTimestamp)
	}
	if before.ResourceVersion == after.ResourceVersion {
		t.Errorf("resourceVersion %s unchanged by an update", after.ResourceVersion)
	}
}
