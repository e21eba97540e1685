package upstream

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/resources"
)

// TestWeWriteUpstreamReads creates every fixture with our client, after
// our EnsureInitialized, and reads everything back with upstream's
// clientv3: Get of each fixture and List of each kind must succeed and
// match what our client returned, resourceVersion included.
func TestWeWriteUpstreamReads(t *testing.T) {
	ctx := testContext(t)
	c := newCluster(t)
	if err := c.ours.EnsureInitialized(ctx, "k8s,bgp"); err != nil {
		t.Fatalf("our EnsureInitialized: %v", err)
	}
	want := map[string]map[string]any{}
	for _, fx := range fixtures {
		r, err := v3.DecodeStrict([]byte(fx.manifest))
		if err != nil {
			t.Fatalf("%s: our decode: %v", id(fx.kind, fx.namespace, fx.name), err)
		}
		got, err := c.ours.Create(ctx, r)
		if err != nil {
			t.Fatalf("%s: our create: %v", id(fx.kind, fx.namespace, fx.name), err)
		}
		want[id(fx.kind, fx.namespace, fx.name)] = view(t, got)
	}

	for _, fx := range fixtures {
		k := id(fx.kind, fx.namespace, fx.name)
		t.Run("Get/"+k, func(t *testing.T) {
			got, err := upKinds[fx.kind].get(ctx, c.up, fx.namespace, fx.name)
			if err != nil {
				t.Fatalf("upstream Get: %v", err)
			}
			if diff := cmp.Diff(want[k], view(t, got)); diff != "" {
				t.Errorf("upstream Get differs from what we wrote (-ours +upstream):\n%s", diff)
			}
		})
	}
	for _, kind := range crossKinds {
		t.Run("List/"+kind, func(t *testing.T) {
			ours := ourList(t, c, kind)
			up := upList(t, c, kind)
			if diff := cmp.Diff(ours, up); diff != "" {
				t.Errorf("upstream List differs from ours (-ours +upstream):\n%s", diff)
			}
			for k, w := range want {
				if v, ok := up[k]; ok && !cmp.Equal(w, v) {
					t.Errorf("%s: upstream List differs from what we wrote (-ours +upstream):\n%s", k, cmp.Diff(w, v))
				}
			}
		})
	}
}

// TestUpstreamWritesWeRead creates every fixture with upstream's clientv3,
// after upstream's EnsureInitialized (as calico/node does), and reads
// everything back with our client: Get of each fixture and List of each
// kind must succeed, skip nothing, and match what upstream reads back.
func TestUpstreamWritesWeRead(t *testing.T) {
	ctx := testContext(t)
	c := newCluster(t)
	if err := c.up.EnsureInitialized(ctx, upstreamVersion, "k8s,bgp"); err != nil {
		t.Fatalf("upstream EnsureInitialized: %v", err)
	}
	want := map[string]map[string]any{}
	for _, fx := range fixtures {
		k := id(fx.kind, fx.namespace, fx.name)
		uk := upKinds[fx.kind]
		obj, err := uk.decode([]byte(fx.manifest))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if _, err := uk.create(ctx, c.up, obj); err != nil {
			t.Fatalf("%s: upstream create: %v", k, err)
		}
		// The reference is what upstream itself reads back: its Create
		// returns the input as given, its reads fill in derived fields
		// (a policy's spec.tier and tier label).
		got, err := uk.get(ctx, c.up, fx.namespace, fx.name)
		if err != nil {
			t.Fatalf("%s: upstream get: %v", k, err)
		}
		want[k] = view(t, got)
	}

	for _, fx := range fixtures {
		k := id(fx.kind, fx.namespace, fx.name)
		t.Run("Get/"+k, func(t *testing.T) {
			got, err := c.ours.Get(ctx, fx.kind, fx.namespace, fx.name)
			if err != nil {
				t.Fatalf("our Get: %v", err)
			}
			if diff := cmp.Diff(want[k], view(t, got)); diff != "" {
				t.Errorf("our Get differs from what upstream wrote (-upstream +ours):\n%s", diff)
			}
		})
	}
	for _, kind := range crossKinds {
		t.Run("List/"+kind, func(t *testing.T) {
			up := upList(t, c, kind)
			ours := ourList(t, c, kind)
			if diff := cmp.Diff(up, ours); diff != "" {
				t.Errorf("our List differs from upstream's (-upstream +ours):\n%s", diff)
			}
			for k, w := range want {
				if v, ok := ours[k]; ok && !cmp.Equal(w, v) {
					t.Errorf("%s: our List differs from what upstream wrote (-upstream +ours):\n%s", k, cmp.Diff(w, v))
				}
			}
		})
	}
	c.assertNothingSkipped(t)
}

func ourList(t *testing.T, c *cluster, kind string) map[string]map[string]any {
	t.Helper()
	items, _, err := c.ours.List(testContext(t), kind, resources.ListOptions{})
	if err != nil {
		t.Fatalf("our List %s: %v", kind, err)
	}
	views := make([]map[string]any, len(items))
	for i, r := range items {
		views[i] = view(t, r)
	}
	return byName(t, kind, views)
}

func upList(t *testing.T, c *cluster, kind string) map[string]map[string]any {
	t.Helper()
	items, err := upKinds[kind].list(testContext(t), c.up)
	if err != nil {
		t.Fatalf("upstream List %s: %v", kind, err)
	}
	views := make([]map[string]any, len(items))
	for i, r := range items {
		views[i] = view(t, r)
	}
	return byName(t, kind, views)
}
