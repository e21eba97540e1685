package etcdtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

func TestEmbedded(t *testing.T) {
	srv, be := etcdtest.Embedded(t)
	eps := srv.Endpoints()
	if len(eps) != 2 || !strings.HasPrefix(eps[0], "unix:///") || !strings.HasPrefix(eps[1], "http://127.0.0.1:") {
		t.Fatalf("Endpoints() = %q, want a unix endpoint then a loopback one", eps)
	}
	ctx := context.Background()
	if _, err := be.Create(ctx, "/etcdtest/k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	kv, err := be.Get(ctx, "/etcdtest/k")
	if err != nil || string(kv.Value) != "v" {
		t.Fatalf("Get = %v, %v; want value v", kv, err)
	}
}

func TestStartCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	if got := len(c.Endpoints()); got != 3 {
		t.Fatalf("%d endpoints, want 3", got)
	}
	be := c.Backend(t)
	ctx := context.Background()
	if _, err := be.Create(ctx, "/etcdtest/k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader(t)
	c.Stop(leader)
	c.Restart(leader)
	c.WaitHealthy(t)
	kv, err := be.Get(ctx, "/etcdtest/k")
	if err != nil || string(kv.Value) != "v" {
		t.Fatalf("Get after leader restart = %v, %v; want value v", kv, err)
	}
}
