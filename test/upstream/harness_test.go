package upstream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/projectcalico/calico/libcalico-go/lib/apiconfig"
	"github.com/projectcalico/calico/libcalico-go/lib/clientv3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

// upstreamVersion is the calicoVersion upstream's EnsureInitialized
// writes; it matches the libcalico-go version in go.mod.
const upstreamVersion = "v3.31.0"

// cluster is one etcd server with both clients pointed at it.
type cluster struct {
	be      datastore.Backend
	ours    *resources.Client
	metrics *resources.Metrics
	up      clientv3.Interface
}

// newCluster starts an embedded etcd and connects our client and
// upstream's clientv3 (etcdv3 datastore, as calicoctl uses it) to it.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv, be := etcdtest.Embedded(t)
	m := resources.NewMetrics(nil)
	return &cluster{
		be:      be,
		ours:    resources.New(be, resources.WithMetrics(m)),
		metrics: m,
		up:      newUpstreamClient(t, srv.Endpoints()),
	}
}

// newUpstreamClient builds upstream's clientv3 for the TCP endpoints
// (libcalico-go does not dial unix sockets).
func newUpstreamClient(t *testing.T, endpoints []string) clientv3.Interface {
	t.Helper()
	var eps []string
	for _, ep := range endpoints {
		if strings.HasPrefix(ep, "http://") || strings.HasPrefix(ep, "https://") {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		t.Fatalf("no TCP etcd endpoint among %v", endpoints)
	}
	cfg := apiconfig.NewCalicoAPIConfig()
	cfg.Spec.DatastoreType = apiconfig.EtcdV3
	cfg.Spec.EtcdEndpoints = strings.Join(eps, ",")
	c, err := clientv3.New(*cfg)
	if err != nil {
		t.Fatalf("upstream clientv3.New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// assertNothingSkipped fails the test if our client skipped a stored value
// it could not decode (List drops those silently, counting them).
func (c *cluster) assertNothingSkipped(t *testing.T) {
	t.Helper()
	if n := testutil.CollectAndCount(c.metrics.InvalidValues); n != 0 {
		t.Errorf("our client skipped undecodable values: %d kinds affected", n)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
