package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultAddr is where health and metrics are served when no address is
// given: loopback only, upstream Felix's health port.
const DefaultAddr = "127.0.0.1:9099"

// shutdownTimeout bounds how long in-flight requests may finish on stop.
const shutdownTimeout = 5 * time.Second

// ListenAddr resolves the address to listen on. "" is DefaultAddr. A
// missing host (":9099") and "localhost" mean 127.0.0.1, so nothing is
// exposed beyond loopback unless an address is given explicitly as an IP
// ("0.0.0.0:9099", "[::]:9099", "10.0.0.5:9099"). Other host names are
// refused, since what they resolve to is not under our control.
func ListenAddr(addr string) (string, error) {
	if addr == "" {
		return DefaultAddr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("health address %q: %w (want host:port, e.g. %s)", addr, err, DefaultAddr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("health address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	port = strconv.FormatUint(p, 10)
	switch host {
	case "", "localhost":
		host = "127.0.0.1"
	default:
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("health address %q: host %q is not an IP address (use 127.0.0.1 for loopback, 0.0.0.0 for all interfaces)", addr, host)
		}
		host = ip.String()
	}
	return net.JoinHostPort(host, port), nil
}

// isLoopback reports whether a resolved listen address is loopback only.
func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}

// Listen opens the TCP listener for addr (see ListenAddr).
func Listen(addr string) (net.Listener, error) {
	a, err := ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, fmt.Errorf("health listen: %w", err)
	}
	return ln, nil
}

// Serve serves Handler(agg, reg) on addr (see ListenAddr) until ctx ends,
// then shuts down gracefully and returns nil. It returns an error if it
// cannot listen or the server fails.
func Serve(ctx context.Context, addr string, agg *Aggregator, reg prometheus.Gatherer, log *slog.Logger) error {
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, agg, reg, log)
}

// ServeListener is Serve on a listener the caller opened (it is closed on
// return).
func ServeListener(ctx context.Context, ln net.Listener, agg *Aggregator, reg prometheus.Gatherer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "health")
	srv := &http.Server{
		Handler:           Handler(agg, reg, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	if isLoopback(addr) {
		log.Info("serving health and metrics", "addr", addr)
	} else {
		log.Warn("serving health and metrics beyond loopback", "addr", addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("health server %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("health server %s shutdown: %w", addr, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("health server %s: %w", addr, err)
	}
	log.Info("health server stopped", "addr", addr)
	return nil
}
