// Package node is calico-node: flags, configuration and the daemon's main
// loop (embedded datastore, startup defaults; agent and BGP come later).
package node

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gocalico/calico/internal/buildinfo"
	"github.com/gocalico/calico/internal/datastore"
)

// Config is everything calico-node needs to run.
type Config struct {
	NodeName string
	// EmbeddedDir, when set, makes calico-node serve the datastore itself
	// from this data directory.
	EmbeddedDir string
	// EmbeddedSocket and EmbeddedListen are where the embedded datastore
	// is served: a unix socket and a loopback client URL ("" = off).
	EmbeddedSocket string
	EmbeddedListen string
	Datastore      datastore.Config
	Defaults       Defaults
	// Addresses of this host recorded in its Node resource.
	Addresses Addresses
	// InitOnly creates the startup defaults and exits (with an embedded
	// datastore this is of little use except in tests).
	InitOnly bool
	// DatastoreOnly serves the embedded datastore and creates the
	// cluster-wide defaults, but is no node: no Node resource, no
	// per-node configuration, no agent. Labs and single-host demos run
	// one such process next to the hosts' calico-nodes.
	DatastoreOnly bool
	// RunAgent runs the host agent (default); false only registers the
	// node and creates the defaults, then waits (tests, or a host whose
	// dataplane is managed by something else).
	RunAgent bool
	// BGP runs and configures BIRD next to the agent.
	BGP      BGPOptions
	LogLevel string
	// logLevel is the running level: set from LogLevel at start, then
	// from FelixConfiguration logSeverityScreen unless logLevelPinned
	// (--log-level or CALICO_LOG_LEVEL given: the operator's word wins,
	// as environment beats datastore in upstream's precedence).
	logLevel       *slog.LevelVar
	logLevelPinned bool
}

// NewCommand returns the calico-node command line.
func NewCommand() *cobra.Command {
	var cfg Config
	cmd := &cobra.Command{
		Use:   "calico-node",
		Short: "Per-host Calico daemon",
		Long: `calico-node runs on every host. With --embedded-etcd DIR it also serves the
datastore (etcd v3, embedded) on a unix socket and a loopback port, so one
machine needs nothing else. Otherwise it connects to an etcd cluster given by
--etcd-endpoints (or ETCD_ENDPOINTS).

At start it creates the datastore defaults that upstream Calico creates
(ClusterInformation, the default tiers, FelixConfiguration, BGPConfiguration
and a default IPv4 pool unless one exists), configured by the usual
environment variables: CALICO_IPV4POOL_CIDR, CALICO_IPV4POOL_BLOCK_SIZE,
CALICO_IPV4POOL_IPIP, CALICO_IPV4POOL_VXLAN, CALICO_IPV4POOL_NAT_OUTGOING,
CALICO_IPV4POOL_NODE_SELECTOR, CALICO_IPV6POOL_* likewise, NO_DEFAULT_POOLS,
CLUSTER_TYPE.`,
		Example: `  calico-node --embedded-etcd /var/lib/calico/etcd --nodename host1
  ETCD_ENDPOINTS=https://10.0.0.1:2379 calico-node --etcd-cert c.pem --etcd-key k.pem --etcd-ca ca.pem`,
		Version:       buildinfo.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.BGP.validate(); err != nil {
				return err
			}
			if err := cfg.Addresses.Validate(); err != nil {
				return err
			}
			if cfg.DatastoreOnly && cfg.EmbeddedDir == "" {
				return fmt.Errorf("--datastore-only needs --embedded-etcd DIR")
			}
			if cfg.NodeName == "" {
				h, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("no --nodename and no hostname: %w", err)
				}
				cfg.NodeName = strings.ToLower(h)
			}
			var err error
			if cfg.Defaults, err = DefaultsFromEnv(os.Getenv); err != nil {
				return err
			}
			log, level, err := newLogger(cfg.LogLevel)
			if err != nil {
				return err
			}
			cfg.logLevel = level
			cfg.logLevelPinned = cmd.Flags().Changed("log-level") || os.Getenv("CALICO_LOG_LEVEL") != ""
			return Run(cmd.Context(), cfg, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodeName, "nodename", os.Getenv("NODENAME"), "this host's node name (env NODENAME; default: the hostname)")
	f.StringVar(&cfg.EmbeddedDir, "embedded-etcd", "", "serve an embedded etcd datastore from this data directory")
	f.StringVar(&cfg.EmbeddedSocket, "embedded-etcd-socket", datastore.DefaultSocketPath, "unix socket the embedded datastore serves on (\"\" = none)")
	f.StringVar(&cfg.EmbeddedListen, "embedded-etcd-listen", "http://127.0.0.1:2379", "loopback client URL the embedded datastore serves on (\"\" = none)")
	f.StringVar(&cfg.Addresses.IPv4, "ip", envOr("IP", "autodetect"), "this host's IPv4 address with prefix length (10.0.0.5/24), autodetect or none (env IP)")
	f.StringVar(&cfg.Addresses.IPv6, "ip6", envOr("IP6", "none"), "this host's IPv6 address with prefix length, autodetect or none (env IP6)")
	f.StringVar(&cfg.Addresses.IPv4Method, "ip-autodetection-method", envOr("IP_AUTODETECTION_METHOD", methodFirstFound), "how --ip autodetect finds the address: first-found, interface=REGEX,..., skip-interface=REGEX,..., can-reach=DEST or cidr=CIDR,... (env IP_AUTODETECTION_METHOD)")
	f.StringVar(&cfg.Addresses.IPv6Method, "ip6-autodetection-method", envOr("IP6_AUTODETECTION_METHOD", methodFirstFound), "how --ip6 autodetect finds the address, as --ip-autodetection-method (env IP6_AUTODETECTION_METHOD)")
	f.BoolVar(&cfg.InitOnly, "init-only", false, "create the datastore defaults and exit")
	f.BoolVar(&cfg.RunAgent, "agent", true, "run the host agent that programs this host's network namespace")
	f.StringVar(&cfg.BGP.Backend, "networking-backend", envOr("CALICO_NETWORKING_BACKEND", BackendBIRD), "bird (BGP with BIRD, run by calico-node next to the agent) or none (env CALICO_NETWORKING_BACKEND)")
	f.StringVar(&cfg.BGP.Dir, "bird-dir", envOr("CALICO_BIRD_DIR", "/var/run/calico"), "directory of BIRD's configuration, PID and status files (env CALICO_BIRD_DIR)")
	f.StringVar(&cfg.BGP.Socket, "bird-socket", os.Getenv("CALICO_BIRD_SOCKET"), "BIRD's control socket (env CALICO_BIRD_SOCKET; default: bird.ctl in --bird-dir)")
	f.StringVar(&cfg.BGP.Binary, "bird", envOr("CALICO_BIRD_BINARY", "bird"), "the BIRD 2 executable (env CALICO_BIRD_BINARY)")
	f.StringVar(&cfg.BGP.SecretsDir, "bgp-secrets-dir", envOr("CALICO_BGP_SECRETS_DIR", "/etc/calico/bgp-secrets"), "BGP passwords, one file per secret key: DIR/<secret>/<key> (env CALICO_BGP_SECRETS_DIR)")
	f.BoolVar(&cfg.DatastoreOnly, "datastore-only", false, "only serve the embedded datastore (--embedded-etcd) and create the cluster-wide defaults; run no node")
	f.StringVar(&cfg.LogLevel, "log-level", envOr("CALICO_LOG_LEVEL", "info"), "debug, info, warn or error (env CALICO_LOG_LEVEL)")
	cfg.Datastore.BindFlags(f)
	return cmd
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newLogger(level string) (*slog.Logger, *slog.LevelVar, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	v := new(slog.LevelVar)
	v.Set(l)
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: v})), v, nil
}
