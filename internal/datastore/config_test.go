package datastore_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

func TestBindFlags(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want datastore.Config
	}{
		{
			name: "nothing set",
			want: datastore.Config{},
		},
		{
			name: "environment",
			env: map[string]string{
				"ETCD_ENDPOINTS":    "https://10.0.0.1:2379, https://10.0.0.2:2379",
				"ETCD_CERT_FILE":    "/etc/calico/cert.pem",
				"ETCD_KEY_FILE":     "/etc/calico/key.pem",
				"ETCD_CA_CERT_FILE": "/etc/calico/ca.pem",
			},
			want: datastore.Config{
				Endpoints: []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379"},
				CertFile:  "/etc/calico/cert.pem", KeyFile: "/etc/calico/key.pem", CAFile: "/etc/calico/ca.pem",
			},
		},
		{
			name: "flags override environment",
			env:  map[string]string{"ETCD_ENDPOINTS": "http://10.0.0.1:2379", "ETCD_CA_CERT_FILE": "/env/ca.pem"},
			args: []string{"--etcd-endpoints", "unix:///run/a.sock,http://127.0.0.1:2379", "--etcd-cert=/c", "--etcd-key=/k"},
			want: datastore.Config{
				Endpoints: []string{"unix:///run/a.sock", "http://127.0.0.1:2379"},
				CertFile:  "/c", KeyFile: "/k", CAFile: "/env/ca.pem",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"ETCD_ENDPOINTS", "ETCD_CERT_FILE", "ETCD_KEY_FILE", "ETCD_CA_CERT_FILE"} {
				t.Setenv(k, tt.env[k])
			}
			fromEnv := datastore.ConfigFromEnv()
			var cfg datastore.Config
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			cfg.BindFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg); diff != "" {
				t.Errorf("Config after flags (-want +got):\n%s", diff)
			}
			if len(tt.args) == 0 {
				if diff := cmp.Diff(tt.want, fromEnv); diff != "" {
					t.Errorf("ConfigFromEnv (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestDefaultEndpoints(t *testing.T) {
	dir := etcdtest.TempDir(t)
	sock := filepath.Join(dir, "etcd.sock")
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		path string
		want []string
	}{
		{sock, []string{"unix://" + sock}},
		{file, []string{"http://127.0.0.1:2379"}},
		{filepath.Join(dir, "missing.sock"), []string{"http://127.0.0.1:2379"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, datastore.DefaultEndpointsFor(tt.path)); diff != "" {
			t.Errorf("default endpoints with %s (-want +got):\n%s", tt.path, diff)
		}
	}
}

func TestNewEtcdConfigErrors(t *testing.T) {
	dir := etcdtest.TempDir(t)
	pki := etcdtest.GenerateTLS(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     datastore.Config
		wantMsg string
		wantIs  error
	}{
		{"unknown scheme", datastore.Config{Endpoints: []string{"tcp://127.0.0.1:2379"}},
			`etcd connect: --etcd-endpoints "tcp://127.0.0.1:2379": want http://host:port, https://host:port or unix:///path.sock`, nil},
		{"unix without path", datastore.Config{Endpoints: []string{"unix://"}},
			`etcd connect: --etcd-endpoints "unix://": missing socket path (use unix:///absolute/path.sock)`, nil},
		{"missing cert file", datastore.Config{CertFile: "/nonexistent/cert.pem", KeyFile: pki.ClientKey},
			"etcd connect: --etcd-cert /nonexistent/cert.pem: open: no such file or directory", fs.ErrNotExist},
		{"missing CA file", datastore.Config{CAFile: "/nonexistent/ca.pem"},
			"etcd connect: --etcd-ca /nonexistent/ca.pem: open: no such file or directory", fs.ErrNotExist},
		{"cert without key", datastore.Config{CertFile: pki.ClientCert},
			"etcd connect: --etcd-cert and --etcd-key must be given together", nil},
		{"CA not PEM", datastore.Config{CAFile: notPEM},
			"etcd connect: --etcd-ca " + notPEM + ": no PEM certificate found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be, err := datastore.NewEtcd(context.Background(), tt.cfg, nil)
			if err == nil {
				be.Close()
				t.Fatalf("NewEtcd succeeded; want %q", tt.wantMsg)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error %q\nwant      %q", err, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
		})
	}
	// A key that does not belong to the certificate.
	_, err := datastore.NewEtcd(context.Background(), datastore.Config{CertFile: pki.ClientCert, KeyFile: pki.ServerKey}, nil)
	if err == nil {
		t.Errorf("NewEtcd with a mismatched key succeeded")
	}
}
