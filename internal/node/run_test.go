package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/embedded"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

const res = resources.Prefix

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testDefaults(t *testing.T) Defaults {
	d, err := DefaultsFromEnv(func(k string) string {
		if k == "CALICO_IPV4POOL_CIDR" {
			return "10.244.0.0/16"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rawSpec reads a key with the backend and returns its spec as a generic map.
func rawSpec(t *testing.T, be datastore.Backend, key string) map[string]any {
	t.Helper()
	kv, err := be.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	var v struct {
		Kind     string         `json:"kind"`
		Metadata map[string]any `json:"metadata"`
		Spec     map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if _, ok := v.Metadata["resourceVersion"]; ok {
		t.Errorf("%s: resourceVersion must not be stored", key)
	}
	if v.Metadata["uid"] == nil || v.Metadata["creationTimestamp"] == nil {
		t.Errorf("%s: uid and creationTimestamp must be stored, metadata = %v", key, v.Metadata)
	}
	return v.Spec
}

// TestEmbeddedNodeCreatesDefaults runs calico-node with --embedded-etcd,
// checks the defaults with a separate etcd client through the unix socket,
// then restarts it on the same data directory: nothing is lost or redone.
func TestEmbeddedNodeCreatesDefaults(t *testing.T) {
	dir := etcdtest.TempDir(t)
	cfg := Config{
		NodeName:       "host1",
		EmbeddedDir:    filepath.Join(dir, "data"),
		EmbeddedSocket: filepath.Join(dir, "etcd.sock"),
		Defaults:       testDefaults(t),
		Addresses:      Addresses{IPv4: "10.0.0.1/24", IPv6: "none"},
		// This test runs in the machine's own network namespace: no agent.
		RunAgent: false,
	}
	sock := datastore.Config{Endpoints: []string{"unix://" + cfg.EmbeddedSocket}}

	run := func() (stop func() error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg, quiet()) }()
		return func() error { cancel(); return <-done }
	}

	stop := run()
	be := waitForKey(t, sock, res+"ippools/default-ipv4-ippool")
	guid := rawSpec(t, be, res+"clusterinformations/default")["clusterGUID"]

	checks := map[string]map[string]any{
		res + "tiers/default":       {"order": 1e6, "defaultAction": "Deny"},
		res + "tiers/kube-admin":    {"order": 1000.0, "defaultAction": "Pass"},
		res + "tiers/kube-baseline": {"order": 1e7, "defaultAction": "Pass"},
	}
	for key, want := range checks {
		if diff := cmp.Diff(want, rawSpec(t, be, key)); diff != "" {
			t.Errorf("%s spec (-want +got):\n%s", key, diff)
		}
	}
	ci := rawSpec(t, be, res+"clusterinformations/default")
	if g, _ := ci["clusterGUID"].(string); len(g) != 32 || ci["datastoreReady"] != true {
		t.Errorf("ClusterInformation spec = %v, want a 32-hex-digit GUID and datastoreReady true", ci)
	}
	pool := rawSpec(t, be, res+"ippools/default-ipv4-ippool")
	for k, want := range map[string]any{"cidr": "10.244.0.0/16", "blockSize": 26.0, "natOutgoing": true, "ipipMode": "Never", "vxlanMode": "Never", "nodeSelector": "all()"} {
		if pool[k] != want {
			t.Errorf("default pool %s = %v, want %v", k, pool[k], want)
		}
	}
	if fc := rawSpec(t, be, res+"felixconfigurations/node.host1"); fc["defaultEndpointToHostAction"] != "Return" {
		t.Errorf("FelixConfiguration node.host1 = %v", fc)
	}
	if fc := rawSpec(t, be, res+"felixconfigurations/default"); fc["reportingInterval"] != "0s" || fc["logSeverityScreen"] != "Info" {
		t.Errorf("FelixConfiguration default = %v", fc)
	}
	rawSpec(t, be, res+"bgpconfigurations/default")
	be.Close()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Restart on the same directory: data kept, GUID unchanged.
	stop = run()
	be = waitForKey(t, sock, res+"ippools/default-ipv4-ippool")
	if got := rawSpec(t, be, res+"clusterinformations/default")["clusterGUID"]; got != guid {
		t.Errorf("cluster GUID changed across restart: %v -> %v", guid, got)
	}
	be.Close()
	if err := stop(); err != nil {
		t.Fatalf("Run after restart: %v", err)
	}
}

func waitForKey(t *testing.T, cfg datastore.Config, key string) datastore.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		be, err := datastore.NewEtcd(ctx, cfg, quiet())
		if err == nil {
			if _, err = be.Get(ctx, key); err == nil {
				return be
			}
			be.Close()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", key, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestClusterNodesRaceOnDefaults starts three calico-nodes at once against
// a real 3-member etcd cluster: exactly one ClusterInformation and one
// default pool result, and every node gets its own FelixConfiguration.
func TestClusterNodesRaceOnDefaults(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := Config{NodeName: []string{"a", "b", "c"}[i], Datastore: cl.Config(), Defaults: testDefaults(t), InitOnly: true, Addresses: Addresses{IPv4: "none", IPv6: "none"}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs[i] = Run(ctx, cfg, quiet())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	be := cl.Backend(t)
	ctx := context.Background()
	for prefix, want := range map[string]int{
		res + "clusterinformations/": 1,
		res + "ippools/":             1,
		res + "tiers/":               3,
		res + "felixconfigurations/": 4,
		res + "bgpconfigurations/":   1,
	} {
		kvs, _, err := be.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(kvs) != want {
			t.Errorf("%s: %d keys, want %d", prefix, len(kvs), want)
		}
	}
	// Reading back through the typed client works too.
	c := resources.New(be)
	r, err := c.Get(ctx, "IPPool", "", "default-ipv4-ippool")
	if err != nil {
		t.Fatal(err)
	}
	if p := r.(*v3.IPPool); p.Spec.CIDR != "10.244.0.0/16" {
		t.Errorf("pool CIDR = %s", p.Spec.CIDR)
	}
}

// lockedBuffer is a log destination shared by a test and Run.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNodeSaysWhyTheDatastoreIsUnreachable: calico-node started before its
// datastore logs why it cannot reach it (here: the socket does not exist)
// and carries on once the datastore starts.
func TestNodeSaysWhyTheDatastoreIsUnreachable(t *testing.T) {
	dir := etcdtest.TempDir(t)
	sock := filepath.Join(dir, "etcd.sock")
	logs := &lockedBuffer{}
	cfg := Config{
		NodeName:  "host1",
		Datastore: datastore.Config{Endpoints: []string{"unix://" + sock}},
		Defaults:  testDefaults(t),
		Addresses: Addresses{IPv4: "10.0.0.1/24", IPv6: "none"},
		InitOnly:  true,
		RunAgent:  false,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil))) }()

	want := "datastore unreachable; retrying"
	for !strings.Contains(logs.String(), "no such socket") {
		select {
		case err := <-done:
			t.Fatalf("Run returned before the datastore started: %v\n%s", err, logs)
		case <-ctx.Done():
			t.Fatalf("no %q naming the missing socket:\n%s", want, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	line := ""
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "no such socket") {
			line = l
			break
		}
	}
	if !strings.Contains(line, want) || !strings.Contains(line, sock) {
		t.Errorf("log line %q does not say %q naming %s", line, want, sock)
	}

	srv, err := embedded.Start(ctx, embedded.Config{Dir: filepath.Join(dir, "data"), SocketPath: sock, ClientURL: "http://127.0.0.1:0"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after the datastore started: %v\n%s", err, logs)
		}
	case <-ctx.Done():
		t.Fatalf("Run did not finish once the datastore started:\n%s", logs)
	}
	be := waitForKey(t, datastore.Config{Endpoints: []string{"unix://" + sock}}, res+"nodes/host1")
	be.Close()
}
