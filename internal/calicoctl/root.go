// Package calicoctl implements the calicoctl command line, which creates,
// applies, replaces, patches, reads and deletes Calico v3 resources in etcd.
package calicoctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// DefaultConcurrency is how many writes one command keeps in flight.
const DefaultConcurrency = 16

// app is the state shared by every subcommand: the streams, the datastore
// flags and the dependencies tests may replace.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	cfg      datastore.Config
	timeout  time.Duration
	logLevel string

	be          datastore.Backend // injected; never closed by the command
	clientOpts  []resources.Option
	concurrency int
	log         *slog.Logger
}

// Option changes how the commands built by NewRootCommand run.
type Option func(*app)

// WithBackend makes every command use be instead of connecting to etcd
// from the flags. The commands do not close it.
func WithBackend(be datastore.Backend) Option { return func(a *app) { a.be = be } }

// WithClientOptions passes options (a clock, for example) to the resource
// client.
func WithClientOptions(opts ...resources.Option) Option {
	return func(a *app) { a.clientOpts = append(a.clientOpts, opts...) }
}

// WithConcurrency sets how many writes are in flight at once (at least 1).
func WithConcurrency(n int) Option {
	return func(a *app) { a.concurrency = max(n, 1) }
}

// WithLogger replaces the logger built from --log-level.
func WithLogger(l *slog.Logger) Option { return func(a *app) { a.log = l } }

// NewRootCommand returns the calicoctl command tree reading from stdin and
// writing to stdout and stderr. Run it with Execute.
func NewRootCommand(stdin io.Reader, stdout, stderr io.Writer, opts ...Option) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, concurrency: DefaultConcurrency}
	for _, o := range opts {
		o(a)
	}
	root := &cobra.Command{
		Use:   "calicoctl",
		Short: "Manage Calico resources in the etcd datastore",
		Long: `calicoctl creates, reads, updates and deletes Calico projectcalico.org/v3
resources (IP pools, policies, endpoints, BGP configuration, ...) stored in
etcd, exactly as upstream Calico stores them.

The datastore is chosen with --etcd-endpoints (or ETCD_ENDPOINTS); TLS
client certificates with --etcd-cert, --etcd-key and --etcd-ca.`,
		Example: `  # Create IP pools from a file
  calicoctl create -f ippools.yaml

  # List IP pools with more columns
  calicoctl get ippools -o wide

  # Use a specific etcd
  ETCD_ENDPOINTS=http://10.0.0.1:2379 calicoctl get nodes`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	a.cfg.BindFlags(pf)
	pf.DurationVar(&a.timeout, "request-timeout", datastore.DefaultRequestTimeout,
		"how long to wait for etcd to answer each request (and to connect)")
	pf.StringVar(&a.logLevel, "log-level", "warn", "log level for diagnostics on stderr: debug, info, warn or error")

	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
			return usagef("--log-level %q: use debug, info, warn or error", a.logLevel)
		}
		return nil
	}

	root.AddCommand(
		newCreateCommand(a),
		newApplyCommand(a),
		newReplaceCommand(a),
		newPatchCommand(a),
		newGetCommand(a),
		newDeleteCommand(a),
		newVersionCommand(a),
		newNodeCommand(a),
		newIPAMCommand(a),
	)
	return root
}

// reportedError is returned by a command that has already told the user
// what went wrong; Execute prints nothing more.
type reportedError struct{ summary string }

func (e *reportedError) Error() string { return e.summary }

// failed returns the error a command returns after printing its failures.
func failed(format string, args ...any) error {
	return &reportedError{summary: fmt.Sprintf(format, args...)}
}

// Execute runs cmd (built by NewRootCommand) with ctx. Errors the command
// has not reported itself (bad flags, unknown commands) are printed on its
// error stream. A non-nil result means the process should exit 1.
func Execute(ctx context.Context, cmd *cobra.Command) error {
	sub, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	var rep *reportedError
	if !errors.As(err, &rep) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
		if sub != nil && isUsageError(err) {
			fmt.Fprintf(cmd.ErrOrStderr(), "Run '%s --help' for usage.\n", sub.CommandPath())
		}
	}
	return err
}

// usageError marks an error in how a command was called.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func isUsageError(err error) bool {
	var ue *usageError
	// cobra's own "unknown command" error is not typed.
	return errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command")
}

// usageArgs marks the errors of a cobra argument check as usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{msg: err.Error()}
		}
		return nil
	}
}

// logger returns the logger for diagnostics: WithLogger's, or a text
// logger on stderr at --log-level without timestamps.
func (a *app) logger() *slog.Logger {
	if a.log != nil {
		return a.log
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{
		Level: lvl,
		ReplaceAttr: func(groups []string, at slog.Attr) slog.Attr {
			if len(groups) == 0 && at.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return at
		},
	}))
}
