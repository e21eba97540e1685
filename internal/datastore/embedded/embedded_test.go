package embedded_test

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/embedded"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

func start(t *testing.T, cfg embedded.Config) *embedded.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func client(t *testing.T, srv *embedded.Server) datastore.Backend {
	t.Helper()
	be, err := datastore.NewEtcd(context.Background(), datastore.Config{Endpoints: srv.Endpoints()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// TestRestartKeepsData closes the server and starts it again on the same
// directory: the data is still there, and the socket was replaced.
func TestRestartKeepsData(t *testing.T) {
	dir := etcdtest.TempDir(t)
	cfg := embedded.Config{Dir: filepath.Join(dir, "data"), SocketPath: filepath.Join(dir, "run", "calico", "etcd.sock")}
	srv := start(t, cfg)
	ctx := context.Background()
	rev, err := client(t, srv).Create(ctx, "/k", []byte("v"), 0)
	if err != nil {
		t.Fatal(err)
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := srv.Err(); err != nil {
		t.Errorf("Err after Close = %v, want nil", err)
	}

	srv = start(t, cfg)
	got, err := client(t, srv).Get(ctx, "/k")
	if err != nil || string(got.Value) != "v" || got.ModRevision != rev {
		t.Fatalf("Get after restart = %+v, %v; want v at revision %d", got, err, rev)
	}
}

func TestSocketModes(t *testing.T) {
	dir := etcdtest.TempDir(t)
	sock := filepath.Join(dir, "run", "etcd.sock")
	start(t, embedded.Config{Dir: filepath.Join(dir, "data"), SocketPath: sock})
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{sock, fs.ModeSocket | 0o660},
		{filepath.Dir(sock), fs.ModeDir | 0o750},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.want {
			t.Errorf("%s mode %v, want %v", c.path, fi.Mode(), c.want)
		}
	}
}

// TestStaleSocket starts on a socket file left behind by a dead server.
func TestStaleSocket(t *testing.T) {
	dir := etcdtest.TempDir(t)
	sock := filepath.Join(dir, "etcd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	srv := start(t, embedded.Config{Dir: filepath.Join(dir, "data"), SocketPath: sock})
	if _, err := client(t, srv).Create(context.Background(), "/k", nil, 0); err != nil {
		t.Fatal(err)
	}
}

func TestStartErrors(t *testing.T) {
	dir := etcdtest.TempDir(t)
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := filepath.Join(dir, "data")
	tests := []struct {
		name    string
		cfg     embedded.Config
		wantMsg string
	}{
		{"no dir", embedded.Config{ClientURL: "http://127.0.0.1:0"}, "no data dir given"},
		{"no listener", embedded.Config{Dir: data}, "neither a socket path nor a client URL"},
		{"client not loopback", embedded.Config{Dir: data, ClientURL: "http://10.1.2.3:2379"}, "host must be a loopback IP"},
		{"client https", embedded.Config{Dir: data, ClientURL: "https://127.0.0.1:2379"}, "want http://127.0.0.1:PORT"},
		{"peer not loopback", embedded.Config{Dir: data, ClientURL: "http://127.0.0.1:0", PeerURL: "http://0.0.0.0:2380"}, "peer URL"},
		{"relative socket", embedded.Config{Dir: data, SocketPath: "etcd.sock"}, "must be absolute"},
		{"long socket", embedded.Config{Dir: data, SocketPath: "/" + strings.Repeat("x", 120)}, "longer than the 107"},
		{"socket path is a file", embedded.Config{Dir: data, SocketPath: plain}, "is not a socket"},
		{"socket in use", embedded.Config{Dir: data, SocketPath: live}, "another server is listening"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := embedded.Start(context.Background(), tt.cfg, nil)
			if err == nil {
				srv.Close()
				t.Fatalf("Start succeeded; want an error containing %q", tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
	if _, err := os.Stat(plain); err != nil {
		t.Errorf("the plain file at the socket path was touched: %v", err)
	}
}
