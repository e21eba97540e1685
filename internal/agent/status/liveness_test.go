package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore"
)

const (
	node1Prefix = "/calico/felix/v2/no-region/host/node1/"
	node1Status = node1Prefix + "status"
	node1Last   = node1Prefix + "last_reported_status"
	node1EPs    = node1Prefix + "workload/"
)

// readReport reads and decodes a status report; nil when absent.
func (e *env) readReport(key string) (*StatusReport, *datastore.KV) {
	e.t.Helper()
	kv := e.get(key)
	if kv == nil {
		return nil, nil
	}
	var rep StatusReport
	if err := json.Unmarshal(kv.Value, &rep); err != nil {
		e.t.Fatalf("%s: %v", key, err)
	}
	return &rep, kv
}

func TestStatusReport(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.EndpointReporting = false
	cfg.ReportingInterval = time.Hour // one report, then the test takes over
	r := New(cfg)
	stop := e.start(r)

	// The first report: exact bytes, on a lease; the copy has no lease.
	waitFor(t, "first status report", func() error {
		if e.get(node1Last) == nil {
			return errors.New("no last_reported_status yet")
		}
		return nil
	})
	want := `{"time":"2026-01-02T02:04:05Z","uptime":0,"first_update":true}`
	st, last := e.get(node1Status), e.get(node1Last)
	if st == nil || string(st.Value) != want {
		t.Fatalf("status = %v, want %s", st, want)
	}
	if st.Lease == 0 {
		t.Fatal("status key has no lease")
	}
	if ttl := e.leaseTTL(st.Lease); ttl != 30 {
		t.Errorf("lease granted for %d s, want the ReportingTTL of 30 s", ttl)
	}
	if string(last.Value) != want || last.Lease != 0 {
		t.Errorf("last_reported_status = %s lease %d, want %s without lease", last.Value, last.Lease, want)
	}
	lease := st.Lease

	// Later reports, every (now short) interval: uptime grows with the
	// clock, first_update is false, the same lease is refreshed.
	e.clock.Advance(90*time.Second + 500*time.Millisecond)
	cfg.ReportingInterval = 10 * time.Millisecond
	r.Reconfigure(cfg)
	n0 := e.spy.count("PutWithLease", node1Status)
	waitFor(t, "five more reports", func() error {
		if n := e.spy.count("PutWithLease", node1Status); n < n0+5 {
			return fmt.Errorf("%d reports", n-n0)
		}
		return nil
	})
	want = `{"time":"2026-01-02T02:05:35Z","uptime":90.5,"first_update":false}`
	for _, k := range []string{node1Status, node1Last} {
		if kv := e.get(k); kv == nil || string(kv.Value) != want {
			t.Errorf("%s = %v, want %s", k, kv, want)
		}
	}
	if kv := e.get(node1Status); kv.Lease != lease {
		t.Errorf("lease changed from %x to %x without expiring", lease, kv.Lease)
	}

	// Clean stop: the lease is revoked, the status key is gone at once,
	// the last report stays.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if kv := e.get(node1Status); kv != nil {
		t.Errorf("status key still present after stop: %s", kv.Value)
	}
	if err := e.raw.KeepAliveOnce(context.Background(), lease); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("lease after stop: %v, want not found", err)
	}
	if kv := e.get(node1Last); kv == nil || string(kv.Value) != want {
		t.Errorf("last_reported_status after stop = %v, want %s", kv, want)
	}
}

// TestStatusLeaseRegranted: when the lease is gone (expired during an
// etcd outage; here revoked behind the reporter's back) the reporter
// grants a new one and the status key comes back.
func TestStatusLeaseRegranted(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.EndpointReporting = false
	e.start(New(cfg))
	var lease int64
	waitFor(t, "status key", func() error {
		kv := e.get(node1Status)
		if kv == nil {
			return errors.New("absent")
		}
		lease = kv.Lease
		return nil
	})
	if err := e.raw.RevokeLease(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "status key on a new lease", func() error {
		kv := e.get(node1Status)
		if kv == nil {
			return errors.New("absent")
		}
		if kv.Lease == 0 || kv.Lease == lease {
			return fmt.Errorf("lease %x", kv.Lease)
		}
		return nil
	})
	rep, _ := e.readReport(node1Status)
	if rep.FirstUpdate {
		t.Error("first_update true after the lease was re-granted")
	}

	// The lease expires between the keepalive and the put: the put fails
	// and is retried at once on a new lease.
	lease = e.get(node1Status).Lease
	e.spy.mu.Lock()
	e.spy.beforePut = func(l int64) {
		if l == lease {
			if err := e.raw.RevokeLease(context.Background(), l); err != nil {
				t.Error(err)
			}
		}
	}
	e.spy.mu.Unlock()
	waitFor(t, "status key on a third lease", func() error {
		kv := e.get(node1Status)
		if kv == nil || kv.Lease == 0 || kv.Lease == lease {
			return fmt.Errorf("status %v", kv)
		}
		return nil
	})
}

func TestStatusReportingOff(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.ReportingInterval = 0
	r := New(cfg)
	stop := e.start(r)
	// Endpoint work proves the loop is running.
	r.SetEndpoints([]EndpointStatus{{Key: "ns/a", Orchestrator: "k8s", Workload: "ns/a", Endpoint: "eth0", Status: StatusUp}})
	waitFor(t, "endpoint status", e.listIs(node1EPs, map[string]string{
		node1EPs + "k8s/ns%2fa/endpoint/eth0": `{"status":"up"}`,
	}))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := e.spy.count("PutWithLease", node1Prefix) + e.spy.count("Update", node1Last); n != 0 {
		t.Errorf("%d status writes with reporting off", n)
	}
	if got := e.list(node1Prefix); len(got) != 0 {
		t.Errorf("keys left: %v", sortedKeys(got))
	}
}

func TestReconfigure(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	r := New(cfg)
	e.start(r)
	a := node1EPs + "k8s/ns%2fa/endpoint/eth0"
	r.SetEndpoints([]EndpointStatus{ep("ns/a", "ns/a", StatusUp)})
	waitFor(t, "endpoint status", e.listIs(node1EPs, map[string]string{a: `{"status":"up"}`}))

	// Endpoint reporting off: the keys go.
	cfg.EndpointReporting = false
	r.Reconfigure(cfg)
	waitFor(t, "endpoint statuses deleted", e.listIs(node1EPs, map[string]string{}))

	// On again: the last set given is written again.
	cfg.EndpointReporting = true
	r.Reconfigure(cfg)
	waitFor(t, "endpoint status again", e.listIs(node1EPs, map[string]string{a: `{"status":"up"}`}))

	// A new TTL moves the status key to a new lease.
	old := e.get(node1Status).Lease
	cfg.ReportingTTL = 45 * time.Second
	r.Reconfigure(cfg)
	waitFor(t, "status on a new lease", func() error {
		if kv := e.get(node1Status); kv == nil || kv.Lease == old || kv.Lease == 0 {
			return fmt.Errorf("status %v", kv)
		}
		return nil
	})
	if ttl := e.leaseTTL(e.get(node1Status).Lease); ttl != 45 {
		t.Errorf("new lease granted for %d s, want 45", ttl)
	}
	waitFor(t, "old lease revoked", func() error {
		if err := e.raw.KeepAliveOnce(context.Background(), old); !errors.Is(err, datastore.ErrNotFound) {
			return fmt.Errorf("old lease: %v", err)
		}
		return nil
	})

	// Status reporting off: the status key goes at once.
	cfg.ReportingInterval = 0
	r.Reconfigure(cfg)
	waitFor(t, "status key gone", func() error {
		if kv := e.get(node1Status); kv != nil {
			return fmt.Errorf("status %s", kv.Value)
		}
		return nil
	})
	if e.get(node1Last) == nil {
		t.Error("last_reported_status removed")
	}
}

func TestRunConfigErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no backend", func(c *Config) { c.Backend = nil }, "no datastore backend"},
		{"no host", func(c *Config) { c.Host = "" }, "host name is empty"},
		{"slash in host", func(c *Config) { c.Host = "a/b" }, `host name "a/b" contains '/'`},
		{"slash in region", func(c *Config) { c.Region = "r/1" }, `region "r/1" contains '/'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config()
			tt.mod(&cfg)
			err := New(cfg).Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	r := New(e.config())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if err := r.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestRegionKeys(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Region = "RegionOne"
	r := New(cfg)
	stop := e.start(r)
	r.SetEndpoints([]EndpointStatus{{Key: "openstack/p1", Orchestrator: "openstack", Workload: "openstack/vm1", Endpoint: "p1", Status: StatusUp}})
	prefix := "/calico/felix/v2/region-RegionOne/host/node1/"
	waitFor(t, "region keys", func() error {
		got := e.list(prefix)
		for _, k := range []string{prefix + "status", prefix + "last_reported_status",
			prefix + "workload/openstack/openstack%2fvm1/endpoint/p1"} {
			if _, ok := got[k]; !ok {
				return fmt.Errorf("no %s in %v", k, sortedKeys(got))
			}
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if out := e.spy.outside(prefix); len(out) != 0 {
		t.Errorf("requests outside %s: %v", prefix, out)
	}
}
