package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// TestBlackholesFollowAffinities: the agent blackholes the blocks its
// node holds by a confirmed affinity in etcd (as IPAM writes them), and
// only those: another node's, a pending one and one outside every pool
// are not; a block given up loses its blackhole.
func TestBlackholesFollowAffinities(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	dp, k := dataplane.NewFake(nil, nil)
	defer dp.Close()
	k.AddLink("cali1", true)
	cfg := Config{NodeName: nodeName, Backend: be}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, dp, nil, newMetrics(nil)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	pool := v3.NewIPPool()
	pool.Metadata.Name = "p"
	pool.Spec.CIDR = "10.65.0.0/16"
	if _, err := c.Create(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(t.Context(), newWEP(t, nodeName, "pa", "cali1", "", "10.65.0.1/32")); err != nil {
		t.Fatal(err)
	}
	key := func(node, block string) string { return "/calico/ipam/v2/host/" + node + "/ipv4/block/" + block }
	put := func(k, v string) {
		t.Helper()
		if _, err := be.Create(t.Context(), k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	put(key(nodeName, "10.65.0.0-26"), `{"state":"confirmed","deleted":false}`)
	put(key(nodeName, "10.65.0.64-26"), `{"state":"pending","deleted":false}`)
	put(key(nodeName, "10.200.0.0-26"), `{"state":"confirmed","deleted":false}`) // outside every pool
	put(key("node2", "10.65.1.0-26"), `{"state":"confirmed","deleted":false}`)
	put(key(nodeName+"0", "10.65.2.0-26"), `{"state":"confirmed","deleted":false}`) // a name with ours as prefix

	routes := func() []string {
		var out []string
		for _, l := range strings.Split(k.Dump(), "\n") {
			if strings.HasPrefix(l, "route ") {
				out = append(out, l)
			}
		}
		return out
	}
	waitRoutes := func(what string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for strings.Join(routes(), "\n") != strings.Join(want, "\n") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: routes\n%s\nwant\n%s", what, strings.Join(routes(), "\n"), strings.Join(want, "\n"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitRoutes("confirmed block",
		"route 10.65.0.0/26 blackhole proto 80",
		"route 10.65.0.1/32 dev cali1 proto 80 scope link")

	// The pending claim is confirmed; the first block is given up.
	kv, err := be.Get(t.Context(), key(nodeName, "10.65.0.64-26"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.Update(t.Context(), kv.Key, []byte(`{"state":"confirmed","deleted":false}`), kv.ModRevision, 0); err != nil {
		t.Fatal(err)
	}
	kv, err = be.Get(t.Context(), key(nodeName, "10.65.0.0-26"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.Delete(t.Context(), kv.Key, kv.ModRevision); err != nil {
		t.Fatal(err)
	}
	waitRoutes("block given up, another confirmed",
		"route 10.65.0.1/32 dev cali1 proto 80 scope link",
		"route 10.65.0.64/26 blackhole proto 80")
}
