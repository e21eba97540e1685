package etcdtest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"sync"
	"testing"
)

// RefusingEndpoint returns an http endpoint on 127.0.0.1 where nothing
// listens: a port that was just bound and released, so connecting to it
// is refused.
func RefusingEndpoint(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: listen: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("etcdtest: close listener: %v", err)
	}
	return "http://" + addr
}

// SilentEndpoint returns an http endpoint on 127.0.0.1 whose listener
// accepts connections and never sends a byte: a server that hangs. It is
// closed by t.Cleanup.
func SilentEndpoint(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: listen: %v", err)
	}
	serve(t, l, func(net.Conn) {})
	return "http://" + l.Addr().String()
}

// TLSEndpoint returns an https endpoint on 127.0.0.1 whose listener does
// the TLS handshake with files' server certificate, asking for a client
// certificate signed by files' CA when clientAuth is set, and then sends
// nothing. It is closed by t.Cleanup.
func TLSEndpoint(t testing.TB, files *TLSFiles, clientAuth bool) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatalf("etcdtest: server certificate: %v", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientAuth {
		ca, err := os.ReadFile(files.CAFile)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: listen: %v", err)
	}
	serve(t, l, func(c net.Conn) {
		// The outcome is the client's to see; the connection is then
		// held open, silent, until it closes.
		_ = tls.Server(c, cfg).Handshake()
	})
	return "https://" + l.Addr().String()
}

// serve accepts connections on l, runs handle on each and keeps it open
// until the client closes it or the test ends.
func serve(t testing.TB, l net.Listener, handle func(net.Conn)) {
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			if closed {
				c.Close()
			}
			mu.Unlock()
			wg.Go(func() {
				handle(c)
				var b [512]byte
				for {
					if _, err := c.Read(b[:]); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}
