// Package etcdtest starts real etcd servers for tests: an in-process
// embedded server, or a cluster of etcd-server processes.
package etcdtest

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/embedded"
)

// startTimeout bounds how long a server may take to come up.
const startTimeout = 30 * time.Second

// Embedded starts an embedded etcd in a fresh temporary directory, serving
// a unix socket (short path, see TempDir) and a random loopback port, and
// returns it with a Backend connected to it. Both are closed by
// t.Cleanup.
func Embedded(t testing.TB) (*embedded.Server, datastore.Backend) {
	t.Helper()
	dir := TempDir(t)
	log := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := embedded.Start(ctx, embedded.Config{
		Dir:        filepath.Join(dir, "data"),
		SocketPath: filepath.Join(dir, "etcd.sock"),
		ClientURL:  "http://127.0.0.1:0",
	}, log)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("etcdtest: close embedded etcd: %v", err)
		}
	})
	be, err := datastore.NewEtcd(ctx, datastore.Config{Endpoints: srv.Endpoints()}, log)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	return srv, be
}

// TempDir makes a temporary directory removed by t.Cleanup. Unlike
// t.TempDir its path is short enough for unix sockets (108 bytes), and it
// is on /dev/shm when that has room, which spares etcd's fsyncs.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(tempBase(), "etcd")
	if err != nil {
		t.Fatalf("etcdtest: temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// tempBase prefers tmpfs at /dev/shm when it has at least 1 GiB free.
func tempBase() string {
	const shm = "/dev/shm"
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err == nil && st.Bavail*uint64(st.Bsize) >= 1<<30 {
		if f, err := os.CreateTemp(shm, "probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return shm
		}
	}
	return os.TempDir()
}
