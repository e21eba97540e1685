// Package embedded runs a single-member etcd server inside the process,
// serving the Calico datastore on a unix socket and/or a loopback port.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"

	"github.com/gocalico/calico/internal/datastore/internal/zapslog"
)

// Defaults for Config fields left zero.
const (
	// DefaultPeerURL lets the kernel pick a free loopback port for the
	// (unused, single-member) peer listener.
	DefaultPeerURL = "http://127.0.0.1:0"
	// DefaultAutoCompaction keeps one hour of history: etcd's periodic
	// compactor then compacts every 6 minutes, dropping revisions older
	// than an hour. A watcher that falls further behind than that re-lists.
	DefaultAutoCompaction = time.Hour
	// DefaultQuotaBackendBytes is etcd's own default (2 GiB).
	DefaultQuotaBackendBytes = 2 << 30
)

// ErrStopped is Err's answer when the server stopped without being closed
// and without a more precise error.
var ErrStopped = errors.New("embedded etcd stopped")

// Config describes an embedded etcd server.
type Config struct {
	// Dir holds the member's data; restarting on the same Dir keeps it.
	Dir string
	// SocketPath, when set, serves clients on this unix socket (absolute
	// path, at most 107 bytes). A stale socket file is removed; the parent
	// directory is created with mode 0750 and the socket gets mode 0660.
	SocketPath string
	// ClientURL, when set, serves clients on this loopback URL, e.g.
	// "http://127.0.0.1:2379"; port 0 picks a free port (see Endpoints).
	ClientURL string
	// PeerURL is the loopback peer listener (DefaultPeerURL when empty).
	PeerURL string
	// AutoCompaction is how much history the periodic compactor keeps
	// (DefaultAutoCompaction when 0; negative disables auto-compaction).
	AutoCompaction time.Duration
	// QuotaBackendBytes caps the database size
	// (DefaultQuotaBackendBytes when 0).
	QuotaBackendBytes int64
}

// Server is a running embedded etcd.
type Server struct {
	etcd      *embed.Etcd
	log       *slog.Logger
	endpoints []string
	done      chan struct{}
	closeOnce sync.Once
	quiet     *atomic.Bool // set once the server is closing

	mu      sync.Mutex
	err     error
	closing bool
}

// Start starts the server and waits until it serves clients (or ctx ends).
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	closing := new(atomic.Bool)
	elog := slog.New(&quietHandler{inner: log.Handler(), closing: closing})
	ecfg, err := etcdConfig(cfg, elog)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd start: %w", err)
	}
	if cfg.SocketPath != "" {
		if err := prepareSocket(cfg.SocketPath); err != nil {
			return nil, fmt.Errorf("embedded etcd start: %w", err)
		}
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd start in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-e.Server.StopNotify():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd start in %s: server stopped before it was ready", cfg.Dir)
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd start in %s: %w", cfg.Dir, err)
	case <-ctx.Done():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd start in %s: %w", cfg.Dir, ctx.Err())
	}
	s := &Server{etcd: e, log: log, done: make(chan struct{}), quiet: closing}
	if cfg.SocketPath != "" {
		if err := finishSocket(cfg.SocketPath); err != nil {
			closing.Store(true)
			e.Close()
			return nil, fmt.Errorf("embedded etcd start: %w", err)
		}
		s.endpoints = append(s.endpoints, "unix://"+cfg.SocketPath)
	}
	for _, l := range e.Clients {
		if a, ok := l.Addr().(*net.TCPAddr); ok {
			s.endpoints = append(s.endpoints, "http://"+a.String())
		}
	}
	go s.watch()
	log.Info("embedded etcd serving", "dir", cfg.Dir, "endpoints", s.endpoints)
	return s, nil
}

// etcdConfig turns cfg into etcd's configuration.
func etcdConfig(cfg Config, log *slog.Logger) (*embed.Config, error) {
	if cfg.Dir == "" {
		return nil, errors.New("no data dir given")
	}
	if cfg.SocketPath == "" && cfg.ClientURL == "" {
		return nil, errors.New("neither a socket path nor a client URL given: clients could not connect")
	}
	ec := embed.NewConfig()
	ec.Name = "calico"
	ec.Dir = cfg.Dir
	ec.Logger = "zap"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(
		zapslog.New(log.With("component", "etcd-server"), zapcore.WarnLevel))

	var clients []url.URL
	if cfg.SocketPath != "" {
		if err := checkSocketPath(cfg.SocketPath); err != nil {
			return nil, err
		}
		clients = append(clients, url.URL{Scheme: "unix", Path: cfg.SocketPath})
	}
	if cfg.ClientURL != "" {
		u, err := loopbackURL("client URL", cfg.ClientURL)
		if err != nil {
			return nil, err
		}
		clients = append(clients, *u)
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = clients, clients

	peer := cfg.PeerURL
	if peer == "" {
		peer = DefaultPeerURL
	}
	pu, err := loopbackURL("peer URL", peer)
	if err != nil {
		return nil, err
	}
	ec.ListenPeerUrls = []url.URL{*pu}
	ec.AdvertisePeerUrls = []url.URL{*pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)

	switch {
	case cfg.AutoCompaction == 0:
		ec.AutoCompactionRetention = DefaultAutoCompaction.String()
	case cfg.AutoCompaction > 0:
		ec.AutoCompactionRetention = cfg.AutoCompaction.String()
	default:
		ec.AutoCompactionRetention = "0"
	}
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	if ec.QuotaBackendBytes == 0 {
		ec.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	return ec, nil
}

// loopbackURL parses an http URL whose host must be a loopback IP.
func loopbackURL(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, s, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%s %q: want http://127.0.0.1:PORT", what, s)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, s, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s %q: host must be a loopback IP such as 127.0.0.1", what, s)
	}
	return u, nil
}

// Endpoints returns the client endpoints, unix socket first, in the form
// datastore.Config.Endpoints takes.
func (s *Server) Endpoints() []string {
	return append([]string(nil), s.endpoints...)
}

// Done is closed when the server has stopped, by Close or by failure.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns why the server stopped: nil while it runs and after Close.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops the server and waits until it has stopped.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.quiet.Store(true)
		s.etcd.Close()
	})
	<-s.done
	return nil
}

// watch waits for the server to stop and records why.
func (s *Server) watch() {
	defer close(s.done)
	var err error
	select {
	case err = <-s.etcd.Err():
	case <-s.etcd.Server.StopNotify():
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if !closing {
		if err == nil {
			err = ErrStopped
		}
		s.log.Error("embedded etcd stopped", "err", err)
		// Release listeners and the data dir; Close then only waits.
		s.closeOnce.Do(func() {
			s.quiet.Store(true)
			s.etcd.Close()
		})
	}
	<-s.etcd.Server.StopNotify()
	s.mu.Lock()
	if !closing {
		s.err = err
	}
	s.mu.Unlock()
}
