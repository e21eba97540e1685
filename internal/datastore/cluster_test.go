package datastore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

// putRetrying writes key unconditionally (so a retry is harmless),
// retrying while the cluster elects a new leader.
func putRetrying(ctx context.Context, t *testing.T, be datastore.Backend, key string) int64 {
	t.Helper()
	var err error
	for attempt := range 50 {
		var rev int64
		if rev, err = be.Update(ctx, key, []byte(key), 0, 0); err == nil {
			return rev
		}
		t.Logf("put %s attempt %d: %v", key, attempt, err)
		select {
		case <-ctx.Done():
			t.Fatalf("put %s: %v", key, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("put %s: %v", key, err)
	return 0
}

// TestClusterFailover kills the leader of a 3-member cluster: writes go on
// through the other members, an open watch keeps delivering, and the
// killed member catches up after a restart. Then quorum is lost and the
// watch must fail instead of hanging.
func TestClusterFailover(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	be := c.Backend(t)
	ctx := ctxT(t)
	const prefix = "/test/failover/"
	rev, err := be.Create(ctx, prefix+"before", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ch := be.Watch(ctx, prefix, rev+1)

	leader := c.Leader(t)
	c.Kill(leader)
	var want []string
	for i := range 10 {
		key := fmt.Sprintf("%safter/%d", prefix, i)
		putRetrying(ctx, t, be, key)
		want = append(want, key)
	}
	var got []string
	for _, ev := range collect(t, ch, len(want)) {
		got = append(got, ev.KV.Key)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("watch events across the leader kill (-want +got):\n%s", diff)
	}
	if l := c.Leader(t); l == leader {
		t.Errorf("member %d still leader after being killed", l)
	}

	c.Restart(leader)
	c.WaitHealthy(t)
	cfg := c.Config()
	cfg.Endpoints = []string{c.Endpoints()[leader]}
	only, err := datastore.NewEtcd(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	kvs, _, err := only.List(ctx, prefix+"after/")
	if err != nil || len(kvs) != len(want) {
		t.Fatalf("List through the restarted member: %d keys, %v; want %d", len(kvs), err, len(want))
	}

	// Lose quorum: the watch (now on the last member) must end with an
	// error, not hang.
	for i := range 3 {
		if i != leader {
			c.Kill(i)
			break
		}
	}
	c.Kill(leader)
	select {
	case resp, ok := <-ch:
		for ok && resp.Err == nil {
			resp, ok = <-ch
		}
		if !ok {
			t.Fatalf("watch closed without an error after quorum loss")
		}
		if errors.Is(resp.Err, datastore.ErrCompacted) {
			t.Errorf("watch error %v; want a no-leader error, not ErrCompacted", resp.Err)
		}
		t.Logf("watch ended with: %v", resp.Err)
	case <-ctx.Done():
		t.Fatalf("watch still silent after quorum loss: %v", ctx.Err())
	}
}

// TestTLSClientCert proves TLS client authentication against a real
// etcd-server: our client certificate is accepted, no certificate or one
// from another CA is refused.
func TestTLSClientCert(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, etcdtest.WithTLS())
	ctx := ctxT(t)
	be := c.Backend(t)
	if _, err := be.Create(ctx, "/test/tls/k", []byte("v"), 0); err != nil {
		t.Fatalf("Create with a client certificate: %v", err)
	}
	other := etcdtest.GenerateTLS(t, etcdtest.TempDir(t))
	tests := []struct {
		name      string
		cert, key string
	}{
		{"no client certificate", "", ""},
		{"certificate from another CA", other.ClientCert, other.ClientKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.Config()
			cfg.CertFile, cfg.KeyFile = tt.cert, tt.key
			cfg.RequestTimeout = time.Second
			be, err := datastore.NewEtcd(ctx, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			if kv, err := be.Get(ctx, "/test/tls/k"); err == nil || errors.Is(err, datastore.ErrNotFound) {
				t.Fatalf("Get = %v, %v; want the connection refused", kv, err)
			}
		})
	}
}

// TestUnixSocketEndpoint talks to the embedded server over its unix
// socket alone.
func TestUnixSocketEndpoint(t *testing.T) {
	srv, viaAll := etcdtest.Embedded(t)
	ctx := ctxT(t)
	sock := srv.Endpoints()[0]
	be, err := datastore.NewEtcd(ctx, datastore.Config{Endpoints: []string{sock}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	rev, err := be.Create(ctx, "/test/unix/k", []byte("v"), 0)
	if err != nil {
		t.Fatalf("Create over %s: %v", sock, err)
	}
	got, err := viaAll.Get(ctx, "/test/unix/k")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&datastore.KV{Key: "/test/unix/k", Value: []byte("v"), ModRevision: rev}, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
}
