package datastore_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

const reachKey = "/calico/resources/v3/projectcalico.org/clusterinformations/default"

// reach runs datastore.Reach against cfg with a real etcd client and
// returns its error and how long it took.
func reach(t *testing.T, cfg datastore.Config, timeout time.Duration) (error, time.Duration) {
	t.Helper()
	cfg.DialTimeout, cfg.RequestTimeout = timeout, timeout
	be, err := datastore.NewEtcd(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("NewEtcd: %v", err)
	}
	defer be.Close()
	start := time.Now()
	err = datastore.Reach(context.Background(), be, cfg, reachKey, timeout)
	return err, time.Since(start)
}

// reasons returns each endpoint's reason of an *UnreachableError.
func reasons(t *testing.T, err error) []datastore.Reason {
	t.Helper()
	var ue *datastore.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an *UnreachableError", err, err)
	}
	var out []datastore.Reason
	for _, e := range ue.Endpoints {
		out = append(out, e.Reason)
	}
	return out
}

// TestReachFailsFastAndSaysWhy: with no endpoint answering for a reason
// waiting cannot mend, Reach returns long before its timeout, naming each
// endpoint and its reason.
func TestReachFailsFastAndSaysWhy(t *testing.T) {
	dir := etcdtest.TempDir(t)
	pki := etcdtest.GenerateTLS(t, dir)
	otherDir := filepath.Join(dir, "other")
	otherPKI := etcdtest.GenerateTLS(t, mkdir(t, otherDir))
	refused := etcdtest.RefusingEndpoint(t)
	refused2 := etcdtest.RefusingEndpoint(t)
	missing := "unix://" + filepath.Join(dir, "missing.sock")
	tlsEP := etcdtest.TLSEndpoint(t, pki, false)
	tlsClientAuth := etcdtest.TLSEndpoint(t, pki, true)
	// Resolution fails: the resolver has no server to ask.
	datastore.SetProbeResolver(t, &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}})

	const timeout = 30 * time.Second
	tests := []struct {
		name    string
		cfg     datastore.Config
		reasons []datastore.Reason
		want    string
	}{
		{"refused", datastore.Config{Endpoints: []string{refused}}, []datastore.Reason{datastore.ReasonRefused},
			"cannot reach etcd at " + refused + ": connection refused: nothing listens on " + strings.TrimPrefix(refused, "http://") +
				" (is etcd running? is the port right?)"},
		{"no such socket", datastore.Config{Endpoints: []string{missing}}, []datastore.Reason{datastore.ReasonNoSocket},
			"cannot reach etcd at " + missing + ": no such socket: " + strings.TrimPrefix(missing, "unix://") +
				" does not exist (is etcd running? is the path right?)"},
		{"server certificate from another CA", datastore.Config{Endpoints: []string{tlsEP}, CAFile: otherPKI.CAFile},
			[]datastore.Reason{datastore.ReasonTLS},
			"cannot reach etcd at " + tlsEP + ": TLS failure: the server's certificate is not signed by a CA in --etcd-ca / ETCD_CA_CERT_FILE" +
				" (x509: certificate signed by unknown authority)"},
		{"client certificate from another CA", datastore.Config{Endpoints: []string{tlsClientAuth}, CAFile: pki.CAFile,
			CertFile: otherPKI.ClientCert, KeyFile: otherPKI.ClientKey},
			[]datastore.Reason{datastore.ReasonTLS},
			"cannot reach etcd at " + tlsClientAuth + ": TLS failure: the server refused this client: check --etcd-cert and --etcd-key (remote error: tls: "},
		{"DNS", datastore.Config{Endpoints: []string{"http://etcd.example.invalid:2379"}}, []datastore.Reason{datastore.ReasonDNS},
			"cannot reach etcd at http://etcd.example.invalid:2379: DNS failure: lookup etcd.example.invalid"},
		{"every endpoint fails", datastore.Config{Endpoints: []string{refused, missing, refused2}},
			[]datastore.Reason{datastore.ReasonRefused, datastore.ReasonNoSocket, datastore.ReasonRefused},
			"cannot reach etcd: none of its 3 endpoints answered: " + refused + ": connection refused: nothing listens on " +
				strings.TrimPrefix(refused, "http://") + " (is etcd running? is the port right?); " + missing + ": no such socket: " +
				strings.TrimPrefix(missing, "unix://") + " does not exist (is etcd running? is the path right?); " + refused2 +
				": connection refused: nothing listens on " + strings.TrimPrefix(refused2, "http://") + " (is etcd running? is the port right?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, took := reach(t, tt.cfg, timeout)
			if err == nil {
				t.Fatal("Reach succeeded")
			}
			if diff := cmp.Diff(tt.reasons, reasons(t, err)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", err, tt.want)
			}
			if took >= timeout/2 {
				t.Errorf("Reach took %s of its %s timeout; want it to return at once", took, timeout)
			}
		})
	}
}

// TestReachTimeout: an endpoint that takes the connection (and the TLS
// handshake) but never answers is reported after the timeout, as such; one
// that is refused beside it is reported with its own reason.
func TestReachTimeout(t *testing.T) {
	pki := etcdtest.GenerateTLS(t, etcdtest.TempDir(t))
	silent := etcdtest.SilentEndpoint(t)
	refused := etcdtest.RefusingEndpoint(t)
	tlsEP := etcdtest.TLSEndpoint(t, pki, true)
	const timeout = time.Second
	tests := []struct {
		name    string
		cfg     datastore.Config
		reasons []datastore.Reason
		want    string
	}{
		{"silent and refused", datastore.Config{Endpoints: []string{silent, refused}},
			[]datastore.Reason{datastore.ReasonTimeout, datastore.ReasonRefused},
			"cannot reach etcd: none of its 2 endpoints answered: " + silent +
				": connected, but no answer within 1s (is it etcd? is it overloaded or without quorum?); " + refused + ": connection refused"},
		{"TLS handshake with the client certificate, then silence",
			datastore.Config{Endpoints: []string{tlsEP}, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey},
			[]datastore.Reason{datastore.ReasonTimeout},
			"cannot reach etcd at " + tlsEP + ": connected, but no answer within 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, took := reach(t, tt.cfg, timeout)
			if err == nil {
				t.Fatal("Reach succeeded")
			}
			if diff := cmp.Diff(tt.reasons, reasons(t, err)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error:\n%s\nwant it to start:\n%s", err, tt.want)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not context.DeadlineExceeded", err)
			}
			if took < timeout {
				t.Errorf("Reach gave up after %s, before its %s timeout", took, timeout)
			}
		})
	}
}

// TestReachTLSCluster: against a real etcd-server with TLS client
// authentication, the right certificates answer, and a missing client
// certificate or a server CA not trusted fail at once as TLS failures.
func TestReachTLSCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, etcdtest.WithTLS())
	other := etcdtest.GenerateTLS(t, etcdtest.TempDir(t))
	if err, _ := reach(t, c.Config(), 30*time.Second); err != nil {
		t.Fatalf("with the cluster's certificates: %v", err)
	}
	noCert := c.Config()
	noCert.CertFile, noCert.KeyFile = "", ""
	otherCA := c.Config()
	otherCA.CAFile = other.CAFile
	const timeout = 30 * time.Second
	for name, cfg := range map[string]datastore.Config{"no client certificate": noCert, "another CA": otherCA} {
		t.Run(name, func(t *testing.T) {
			err, took := reach(t, cfg, timeout)
			if err == nil {
				t.Fatal("Reach succeeded")
			}
			if diff := cmp.Diff([]datastore.Reason{datastore.ReasonTLS}, reasons(t, err)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s\nerror: %v", diff, err)
			}
			if took >= timeout/2 {
				t.Errorf("Reach took %s of its %s timeout; want it to return at once", took, timeout)
			}
		})
	}
}

// TestReachAnyEndpointAnswering: one endpoint answering is enough, however
// the others fail.
func TestReachAnyEndpointAnswering(t *testing.T) {
	srv, _ := etcdtest.Embedded(t)
	dir := etcdtest.TempDir(t)
	eps := append([]string{etcdtest.RefusingEndpoint(t), "unix://" + filepath.Join(dir, "missing.sock"), etcdtest.SilentEndpoint(t)},
		srv.Endpoints()...)
	for _, ep := range srv.Endpoints() {
		if err, _ := reach(t, datastore.Config{Endpoints: []string{ep}}, 30*time.Second); err != nil {
			t.Errorf("endpoint %s alone: %v", ep, err)
		}
	}
	if err, _ := reach(t, datastore.Config{Endpoints: eps}, 30*time.Second); err != nil {
		t.Errorf("all endpoints: %v", err)
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
