package calicoctl_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/calicoctl/ctltest"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

// TestUnreachableSaysWhy: with no datastore answering, calicoctl says
// why for each endpoint, and returns at once unless the reason is a
// genuine timeout.
func TestUnreachableSaysWhy(t *testing.T) {
	dir := etcdtest.TempDir(t)
	pki := etcdtest.GenerateTLS(t, dir)
	refused := etcdtest.RefusingEndpoint(t)
	missing := "unix://" + filepath.Join(dir, "etcd.sock")
	tlsEP := etcdtest.TLSEndpoint(t, pki, false)
	otherCA := etcdtest.GenerateTLS(t, etcdtest.TempDir(t)).CAFile
	silent := etcdtest.SilentEndpoint(t)

	tests := []struct {
		name    string
		args    []string
		timeout time.Duration
		want    string // the whole of stderr
		fast    bool
	}{
		{"refused", []string{"--etcd-endpoints", refused}, 30 * time.Second,
			"Error: cannot reach etcd at " + refused + ": connection refused: nothing listens on " +
				strings.TrimPrefix(refused, "http://") + " (is etcd running? is the port right?)\n", true},
		{"no such socket", []string{"--etcd-endpoints", missing}, 30 * time.Second,
			"Error: cannot reach etcd at " + missing + ": no such socket: " + strings.TrimPrefix(missing, "unix://") +
				" does not exist (is etcd running? is the path right?)\n", true},
		{"TLS, server certificate from another CA", []string{"--etcd-endpoints", tlsEP, "--etcd-ca", otherCA}, 30 * time.Second,
			"Error: cannot reach etcd at " + tlsEP + ": TLS failure: the server's certificate is not signed by a CA in " +
				"--etcd-ca / ETCD_CA_CERT_FILE (x509: certificate signed by unknown authority)\n", true},
		{"refused and no such socket", []string{"--etcd-endpoints", refused + "," + missing}, 30 * time.Second,
			"Error: cannot reach etcd: none of its 2 endpoints answered: " + refused + ": connection refused: nothing listens on " +
				strings.TrimPrefix(refused, "http://") + " (is etcd running? is the port right?); " + missing + ": no such socket: " +
				strings.TrimPrefix(missing, "unix://") + " does not exist (is etcd running? is the path right?)\n", true},
		{"connected, no answer", []string{"--etcd-endpoints", silent}, time.Second,
			"Error: cannot reach etcd at " + silent + ": connected, but no answer within 1s (is it etcd? is it overloaded or without quorum?)\n",
			false},
	}
	for _, tt := range tests {
		for _, cmd := range [][]string{{"get", "ippools"}, {"apply", "-f", "-"}} {
			t.Run(tt.name+"/"+cmd[0], func(t *testing.T) {
				args := append(append(append([]string(nil), cmd...), tt.args...), "--request-timeout", tt.timeout.String())
				start := time.Now()
				res := ctltest.Runner{}.Run(t, pool("p", "10.1.0.0/16"), args...)
				took := time.Since(start)
				if res.Code != 1 {
					t.Errorf("exit %d, want 1", res.Code)
				}
				if res.Stderr != tt.want {
					t.Errorf("stderr:\n%s\nwant:\n%s", res.Stderr, tt.want)
				}
				if res.Stdout != "" {
					t.Errorf("stdout: %q, want nothing", res.Stdout)
				}
				switch {
				case tt.fast && took >= tt.timeout/2:
					t.Errorf("took %s of its %s timeout; want it to return at once", took, tt.timeout)
				case !tt.fast && took < tt.timeout:
					t.Errorf("gave up after %s, before its %s timeout", took, tt.timeout)
				}
			})
		}
	}
}
