package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gocalico/calico/internal/nsguard"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/embedded"
	"github.com/gocalico/calico/internal/resources"
)

// Run starts calico-node and blocks until ctx ends or the embedded
// datastore fails.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	dsCfg := cfg.Datastore
	var srv *embedded.Server
	if cfg.EmbeddedDir != "" {
		var err error
		srv, err = embedded.Start(ctx, embedded.Config{
			Dir:        cfg.EmbeddedDir,
			SocketPath: cfg.EmbeddedSocket,
			ClientURL:  cfg.EmbeddedListen,
		}, log.With("component", "etcd"))
		if err != nil {
			return fmt.Errorf("embedded datastore: %w", err)
		}
		defer srv.Close()
		dsCfg = datastore.Config{Endpoints: srv.Endpoints()}
		log.Info("embedded datastore serving", "dir", cfg.EmbeddedDir, "endpoints", srv.Endpoints())
	}
	cfg.Datastore = dsCfg

	be, err := connect(ctx, dsCfg, log)
	if err != nil {
		return err
	}
	defer be.Close()
	c := resources.New(be, resources.WithLogger(log))

	if err := ensureDefaultsWithRetry(ctx, c, be, cfg, log); err != nil {
		if ctx.Err() != nil {
			// Asked to stop while starting: not a failure.
			log.Info("shutting down before start-up finished")
			return nil
		}
		return err
	}
	if !cfg.DatastoreOnly {
		if err := RegisterNode(ctx, c, cfg.NodeName, cfg.Addresses, log); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("registering node %s: %w", cfg.NodeName, err)
		}
	}
	if cfg.InitOnly {
		return nil
	}
	if !cfg.DatastoreOnly && cfg.RunAgent {
		if err := checkNetNSAllowed(); err != nil {
			return err
		}
		return runAgentUntilDone(ctx, cfg, be, srv, log)
	}
	var srvDone <-chan struct{}
	if srv != nil {
		srvDone = srv.Done()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case <-srvDone:
		return fmt.Errorf("embedded datastore stopped: %w", srv.Err())
	}
}

func connect(ctx context.Context, cfg datastore.Config, log *slog.Logger) (datastore.Backend, error) {
	be, err := datastore.NewEtcd(ctx, cfg, log.With("component", "datastore"))
	if err != nil {
		return nil, fmt.Errorf("datastore %v: %w", cfg.Endpoints, err)
	}
	return be, nil
}

// ensureDefaultsWithRetry creates the startup defaults, retrying while the
// datastore is not reachable yet (an etcd cluster still forming). Each
// attempt first checks that the datastore answers (datastore.Reach), so
// that the log says why it does not (connection refused, no such socket,
// TLS failure, no answer in time), and a refusal is retried at once
// rather than after a request's timeout.
func ensureDefaultsWithRetry(ctx context.Context, c *resources.Client, be datastore.Backend, cfg Config, log *slog.Logger) error {
	delay := 100 * time.Millisecond
	nodeName := cfg.NodeName
	if cfg.DatastoreOnly {
		nodeName = ""
	}
	for {
		err := datastore.Reach(ctx, be, cfg.Datastore, datastoreProbeKey, cfg.Datastore.RequestTimeout)
		if err != nil {
			log.Warn("datastore unreachable; retrying", "error", err, "retryIn", delay)
		} else {
			err = EnsureDefaults(ctx, c, nodeName, cfg.Defaults, log)
			if err == nil {
				log.Info("datastore defaults in place", "node", cfg.NodeName)
				return nil
			}
			var ve *v3.ValidationError
			if errors.As(err, &ve) {
				return fmt.Errorf("creating datastore defaults: %w", err)
			}
			log.Warn("creating datastore defaults failed; retrying", "error", err, "retryIn", delay)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("creating datastore defaults: %w", err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// runAgentUntilDone runs the agent until ctx ends or, with an embedded
// datastore, until that datastore fails.
func runAgentUntilDone(ctx context.Context, cfg Config, be datastore.Backend, srv *embedded.Server, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if srv != nil {
		go func() {
			select {
			case <-srv.Done():
				log.Error("embedded datastore stopped", "error", srv.Err())
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err := runAgent(ctx, cfg, be, log)
	if srv != nil && srv.Err() != nil && !errors.Is(srv.Err(), embedded.ErrStopped) {
		return errors.Join(err, fmt.Errorf("embedded datastore stopped: %w", srv.Err()))
	}
	log.Info("shutting down")
	return err
}

// EnvRefuseInitNetNS, when set, makes calico-node refuse to run the agent
// anywhere but in a named network namespace (one under /run/netns, as the
// lab makes them). The project's test targets set it, so no test can
// program the development machine's own network by mistake; real
// deployments run the agent in the host's namespace and do not set it.
const EnvRefuseInitNetNS = nsguard.Env

func checkNetNSAllowed() error {
	if os.Getenv(EnvRefuseInitNetNS) == "" {
		return nil
	}
	named, err := nsguard.Named("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if !named {
		return fmt.Errorf("%s is set: refusing to run the agent outside a named network namespace (/run/netns); run calico-node inside a lab namespace, or with --agent=false", EnvRefuseInitNetNS)
	}
	return nil
}
