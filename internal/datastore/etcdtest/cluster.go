package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/testenv"
)

// EtcdServerBin is the etcd binary of Debian's etcd-server package.
const EtcdServerBin = "/usr/bin/etcd"

// EnvRequireServer makes StartCluster fail instead of skip when
// EtcdServerBin is missing, as testenv.EnvRequire (CALICO_REQUIRE_PRIVILEGED)
// does for every requirement; either set to 1 is enough.
const EnvRequireServer = "CALICO_REQUIRE_ETCD_SERVER"

// Cluster is a set of etcd-server processes on 127.0.0.1, each with its
// own data dir and log file. Only processes it started are ever signalled.
type Cluster struct {
	t       testing.TB
	dir     string
	tls     *TLSFiles
	spawn   *spawner
	members []*member
}

// Option changes how StartCluster sets a cluster up.
type Option func(*clusterOptions)

type clusterOptions struct {
	tls bool
}

// WithTLS serves clients over https and requires a client certificate
// signed by the cluster's CA (see Cluster.TLS).
func WithTLS() Option {
	return func(o *clusterOptions) { o.tls = true }
}

// StartCluster starts n etcd-server members and waits until they are
// healthy. Everything is stopped and removed by t.Cleanup; when the test
// failed, the tail of each member's log is printed first. Without
// EtcdServerBin the test is skipped (see RequireServer).
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	RequireServer(t)
	var o clusterOptions
	for _, opt := range opts {
		opt(&o)
	}
	c := &Cluster{t: t, dir: TempDir(t), spawn: newSpawner()}
	t.Cleanup(c.cleanup)
	if o.tls {
		c.tls = GenerateTLS(t, c.dir)
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	scheme := "http"
	if o.tls {
		scheme = "https"
	}
	var initial []string
	for i := range n {
		m := &member{
			name:      fmt.Sprintf("m%d", i),
			clientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		m.dataDir = filepath.Join(c.dir, m.name)
		m.logPath = filepath.Join(c.dir, m.name+".log")
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	token := filepath.Base(c.dir)
	for _, m := range c.members {
		m.args = m.buildArgs(strings.Join(initial, ","), token, c.tls)
		if err := c.start(m); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
	}
	c.WaitHealthy(t)
	return c
}

// RequireServer skips the test if EtcdServerBin is not installed, or fails
// it when CALICO_REQUIRE_ETCD_SERVER=1 or CALICO_REQUIRE_PRIVILEGED=1.
func RequireServer(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvRequireServer) == "1" {
		if _, err := os.Stat(EtcdServerBin); err != nil {
			t.Fatalf("needs %s (Debian package etcd-server): run make deps (%s=1)", EtcdServerBin, EnvRequireServer)
		}
	}
	testenv.RequireTools(t, EtcdServerBin)
}

// Endpoints returns every member's client URL, running or not.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL
	}
	return eps
}

// TLS returns the cluster's certificate files, nil without WithTLS.
func (c *Cluster) TLS() *TLSFiles { return c.tls }

// Config returns a datastore.Config for all members, with the client
// certificate when the cluster uses TLS.
func (c *Cluster) Config() datastore.Config {
	cfg := datastore.Config{Endpoints: c.Endpoints()}
	if c.tls != nil {
		cfg.CertFile, cfg.KeyFile, cfg.CAFile = c.tls.ClientCert, c.tls.ClientKey, c.tls.CAFile
	}
	return cfg
}

// Backend returns a Backend connected to all members, closed by t.Cleanup.
func (c *Cluster) Backend(t testing.TB) datastore.Backend {
	t.Helper()
	be, err := datastore.NewEtcd(context.Background(), c.Config(), testLogger(t))
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// WaitHealthy waits until every running member serves a linearizable
// read (so it has a leader and has caught up), failing t after a while.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for _, m := range c.members {
		if !m.running() {
			continue
		}
		var err error
		for {
			if err = c.probe(m); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("etcdtest: member %s not healthy: %v", m.name, err)
			}
			select {
			case <-m.done:
				t.Fatalf("etcdtest: member %s exited: %v", m.name, m.exitErr)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// probe does one linearizable read through member m alone.
func (c *Cluster) probe(m *member) error {
	cfg := c.Config()
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{m.clientURL},
		DialTimeout: time.Second,
		TLS:         tlsCfg,
		Logger:      nopZap(),
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "etcdtest-health")
	return err
}

// freePorts reserves n distinct free loopback ports. They are released
// before etcd binds them, so another process could in principle grab one.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Leader returns the index of the member that is currently raft leader,
// asking the running members; it fails t when none knows a leader.
func (c *Cluster) Leader(t testing.TB) int {
	t.Helper()
	cfg := c.Config()
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: time.Second, TLS: tlsCfg, Logger: nopZap()})
	if err != nil {
		t.Fatalf("etcdtest: leader: %v", err)
	}
	defer cli.Close()
	for i, m := range c.members {
		if !m.running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.clientURL)
		cancel()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatalf("etcdtest: no member is leader")
	return -1
}
