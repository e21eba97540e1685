package datastore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Reason says why an endpoint did not answer.
type Reason int

const (
	// ReasonRefused: nothing listens at the address or socket.
	ReasonRefused Reason = iota + 1
	// ReasonNoSocket: the unix socket's path does not exist.
	ReasonNoSocket
	// ReasonTLS: the TLS handshake failed (certificate not trusted, not
	// valid for the name, client certificate refused, not TLS at all).
	ReasonTLS
	// ReasonDNS: the host name could not be resolved.
	ReasonDNS
	// ReasonTimeout: no connection, or no answer, within the timeout.
	ReasonTimeout
	// ReasonOther: any other error (permission denied, no route...).
	ReasonOther
)

func (r Reason) String() string {
	switch r {
	case ReasonRefused:
		return "connection refused"
	case ReasonNoSocket:
		return "no such socket"
	case ReasonTLS:
		return "TLS failure"
	case ReasonDNS:
		return "DNS failure"
	case ReasonTimeout:
		return "timeout"
	}
	return "error"
}

// EndpointError is why one endpoint did not answer.
type EndpointError struct {
	Endpoint string
	Reason   Reason
	// Detail says what happened and what to check, e.g. "connection
	// refused: nothing listens on 127.0.0.1:2379 (is etcd running?)".
	Detail string
	Err    error
}

func (e *EndpointError) Error() string { return e.Endpoint + ": " + e.Detail }

func (e *EndpointError) Unwrap() error { return e.Err }

// UnreachableError says that no endpoint answered, and why for each, in
// the configured order.
type UnreachableError struct {
	Endpoints []*EndpointError
}

func (e *UnreachableError) Error() string {
	if len(e.Endpoints) == 1 {
		ep := e.Endpoints[0]
		return fmt.Sprintf("cannot reach etcd at %s: %s", ep.Endpoint, ep.Detail)
	}
	parts := make([]string, len(e.Endpoints))
	for i, ep := range e.Endpoints {
		parts[i] = ep.Error()
	}
	return fmt.Sprintf("cannot reach etcd: none of its %d endpoints answered: %s", len(e.Endpoints), strings.Join(parts, "; "))
}

func (e *UnreachableError) Unwrap() []error {
	out := make([]error, len(e.Endpoints))
	for i, ep := range e.Endpoints {
		out[i] = ep
	}
	return out
}

// probeResolver resolves host names for the endpoint probes (tests
// replace it).
var probeResolver = net.DefaultResolver

// tlsAlertWait is how long, at most, a probe waits after a TLS handshake
// for the server to refuse the client certificate: with TLS 1.3 the
// server does that after the client has finished its side of the
// handshake, one round trip later.
const tlsAlertWait = time.Second

// Reach checks that the datastore answers: it reads key through be (a
// missing key is an answer) and, at the same time, connects to every
// endpoint of cfg itself (TCP or unix socket, then the TLS handshake where
// the etcd client uses TLS), so that it can say why none answers. It
// returns:
//
//   - nil as soon as the read answers;
//   - at once, an *UnreachableError when every endpoint failed to connect
//     for a reason waiting cannot mend (connection refused, no such
//     socket, TLS failure, DNS failure), naming each endpoint's reason;
//   - after timeout without an answer, an *UnreachableError naming each
//     endpoint's reason (for those that connected: no answer in time);
//   - any other error of the read as it is.
//
// With several endpoints it fails only when none answers: the etcd client
// uses whichever does.
func Reach(ctx context.Context, be Backend, cfg Config, key string, timeout time.Duration) error {
	eps, err := cfg.resolvedEndpoints()
	if err != nil {
		return err
	}
	cfg.Endpoints = eps
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	// Nothing started here outlives the call: every step ends when ctx
	// does.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	read := make(chan error, 1)
	wg.Go(func() {
		_, err := be.Get(ctx, key)
		read <- err
	})
	type probed struct {
		i   int
		err *EndpointError
	}
	probes := make(chan probed, len(eps))
	resolver := probeResolver
	for i, ep := range eps {
		wg.Go(func() { probes <- probed{i, probeEndpoint(ctx, ep, tlsCfg, resolver)} })
	}

	results := make([]*EndpointError, len(eps))
	done := make([]bool, len(eps))
	failed := 0
	for {
		select {
		case err := <-read:
			switch {
			case err == nil || errors.Is(err, ErrNotFound):
				return nil
			case ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded):
				return err
			}
			return timedOut(eps, results, done, timeout)
		case <-ctx.Done():
			return timedOut(eps, results, done, timeout)
		case p := <-probes:
			done[p.i], results[p.i] = true, p.err
			if p.err != nil && p.err.Reason != ReasonTimeout {
				failed++
			}
			if failed == len(eps) {
				return &UnreachableError{Endpoints: results}
			}
		}
	}
}

// timedOut is the error when no answer came within timeout: each
// endpoint's own failure, or that it connected but did not answer.
func timedOut(eps []string, results []*EndpointError, done []bool, timeout time.Duration) error {
	out := make([]*EndpointError, len(eps))
	for i, ep := range eps {
		switch r := results[i]; {
		case done[i] && r == nil:
			out[i] = &EndpointError{Endpoint: ep, Reason: ReasonTimeout, Err: context.DeadlineExceeded,
				Detail: fmt.Sprintf("connected, but no answer within %s (is it etcd? is it overloaded or without quorum?)", timeout)}
		case r != nil && r.Reason != ReasonTimeout:
			out[i] = r
		default:
			out[i] = &EndpointError{Endpoint: ep, Reason: ReasonTimeout, Err: context.DeadlineExceeded,
				Detail: fmt.Sprintf("no connection within %s", timeout)}
		}
	}
	return &UnreachableError{Endpoints: out}
}

// target is where an endpoint URL dials, as the etcd client reads it.
type target struct {
	network, addr string
	// serverName is the name the server's certificate must hold.
	serverName string
	tls        bool
}

// targetOf reads an endpoint the way the etcd client does: http and
// https dial host:port; unix:///abs and unix://rel dial a socket path,
// whose base name is the TLS server name. unix uses TLS when TLS is
// configured; unixs and https always.
func targetOf(ep string, haveTLS bool) (target, error) {
	u, err := url.Parse(ep)
	if err != nil {
		return target{}, err
	}
	switch u.Scheme {
	case "http", "https":
		host := u.Hostname()
		return target{network: "tcp", addr: u.Host, serverName: host, tls: u.Scheme == "https"}, nil
	case "unix", "unixs":
		p := strings.TrimPrefix(ep, u.Scheme+"://")
		return target{network: "unix", addr: p, serverName: path.Base(p), tls: u.Scheme == "unixs" || haveTLS}, nil
	}
	return target{}, fmt.Errorf("unsupported scheme %q", u.Scheme)
}

// probeEndpoint connects to one endpoint (and does the TLS handshake
// where the client would), returning nil when that worked.
func probeEndpoint(ctx context.Context, ep string, tlsCfg *tls.Config, resolver *net.Resolver) *EndpointError {
	t, err := targetOf(ep, tlsCfg != nil)
	if err != nil {
		return &EndpointError{Endpoint: ep, Reason: ReasonOther, Detail: err.Error(), Err: err}
	}
	d := net.Dialer{Resolver: resolver}
	conn, err := d.DialContext(ctx, t.network, t.addr)
	if err != nil {
		return dialError(ep, t, err)
	}
	defer conn.Close()
	// Closing the connection when ctx ends interrupts the handshake or
	// the wait for an alert at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if !t.tls || tlsCfg == nil {
		return nil
	}
	c := tlsCfg.Clone()
	if c.ServerName == "" {
		c.ServerName = t.serverName
	}
	tc := tls.Client(conn, c)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tlsError(ep, ctx, err)
	}
	// A TLS 1.3 server refuses a client certificate after the handshake:
	// wait a moment for its alert. Data or silence mean it took us.
	// At most a quarter of the time left, so that the probe ends well
	// before the caller gives up.
	wait := tlsAlertWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/4)
	}
	_ = tc.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil && !isTimeout(err) {
		if errors.Is(err, io.EOF) {
			return &EndpointError{Endpoint: ep, Reason: ReasonOther, Err: err,
				Detail: "the server closed the connection right after the TLS handshake (did it refuse the client certificate? check --etcd-cert and --etcd-key)"}
		}
		return tlsError(ep, ctx, err)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// dialError classifies a failed connect.
func dialError(ep string, t target, err error) *EndpointError {
	e := &EndpointError{Endpoint: ep, Err: err}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		e.Reason = ReasonDNS
		e.Detail = "DNS failure: " + dnsErr.Error()
	case isTimeout(err):
		e.Reason = ReasonTimeout
		e.Detail = "no connection: " + err.Error()
	case t.network == "unix" && errors.Is(err, syscall.ENOENT):
		e.Reason = ReasonNoSocket
		e.Detail = fmt.Sprintf("no such socket: %s does not exist (is etcd running? is the path right?)", t.addr)
	case errors.Is(err, syscall.ECONNREFUSED) && t.network == "unix":
		e.Reason = ReasonRefused
		e.Detail = fmt.Sprintf("connection refused: no process listens on socket %s (is etcd running?)", t.addr)
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Reason = ReasonRefused
		e.Detail = fmt.Sprintf("connection refused: nothing listens on %s (is etcd running? is the port right?)", t.addr)
	case errors.Is(err, os.ErrPermission):
		e.Reason = ReasonOther
		e.Detail = fmt.Sprintf("permission denied connecting to %s", t.addr)
	default:
		e.Reason = ReasonOther
		e.Detail = err.Error()
	}
	return e
}

// tlsError classifies a failed TLS handshake and says what to check.
func tlsError(ep string, ctx context.Context, err error) *EndpointError {
	if ctx.Err() != nil || isTimeout(err) {
		return &EndpointError{Endpoint: ep, Reason: ReasonTimeout, Err: err, Detail: "no TLS handshake: " + err.Error()}
	}
	what := err.Error()
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA):
		// Its own text may add the verification detail; the point is this.
		what = "the server's certificate is not signed by a CA in --etcd-ca / " + EnvCAFile +
			" (x509: certificate signed by unknown authority)"
	case errors.As(err, &hostErr):
		what = "the server's certificate is not valid for the endpoint's host name (" + hostErr.Error() + ")"
	case errors.As(err, &invalid):
		what = "the server's certificate is not valid (" + invalid.Error() + ")"
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// A TLS alert from the server.
		what = "the server refused this client: check --etcd-cert and --etcd-key (" + err.Error() + ")"
	case errors.As(err, &header):
		what = "the server does not speak TLS: use http:// or unix:// (" + err.Error() + ")"
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		what = "the server closed the connection during the handshake: does it serve TLS? (" + err.Error() + ")"
	}
	return &EndpointError{Endpoint: ep, Reason: ReasonTLS, Err: err, Detail: "TLS failure: " + what}
}
