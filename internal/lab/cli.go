package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// exitCode carries a command's exit status out of the cobra tree without
// an error message of its own.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Main runs the calico-lab command line and returns its exit status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintln(stderr, "calico-lab:", err)
		return 1
	}
}

// NewCommand returns the calico-lab command tree.
func NewCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var name string
	root := &cobra.Command{
		Use:   "calico-lab",
		Short: "Build a Calico lab out of network namespaces on this machine",
		Long: `calico-lab builds a lab: a fabric namespace with a bridge, one namespace per
host running calico-node, and one namespace per workload plugged into its host
as Calico's CNI plugin would, with a datastore reached over a unix socket.
Nothing is changed in the machine's own network namespace.

Labs are named (--name, default "lab"); two labs can run at once. Hosts are
host1..hostN, workloads host1-w1.. (addresses 10.65.N.M and fd00:65::N:M).`,
		Example: `  calico-lab up --hosts 1 --workloads 3
  calico-lab status
  calico-lab exec host1 -- calicoctl get workloadendpoints -A
  calico-lab exec host1-w1 -- ping -c 1 10.65.1.2
  calico-lab matrix
  calico-lab down`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := ValidateName(name); err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return fmt.Errorf("%s needs root (it creates and enters network namespaces): run it as root (sudo from an ordinary account)", cmd.CommandPath())
			}
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&name, "name", "lab", "lab name")
	root.AddCommand(upCommand(&name, stdout), statusCommand(&name, stdout),
		execCommand(&name, stdin, stdout, stderr), matrixCommand(&name, stdout), datastoreCommand(&name, stdout),
		downCommand(&name, stdout))
	return root
}

func upCommand(name *string, stdout io.Writer) *cobra.Command {
	var cfg Config
	var bin string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring a lab up: namespaces, datastore, calico-node per host, workloads; returns once it is ready",
		Long: `up builds the lab and returns once it is ready: every host's agent ready,
every host routing to its own workloads and (unless --bgp none) holding BGP
routes to every other host's workloads, so that calico-lab matrix reaches every
pair at once. When that takes longer than --ready-timeout it says what each
host is missing and removes the lab.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := findBin(bin)
			if err != nil {
				return err
			}
			cfg.Name, cfg.Bin = *name, dir
			l, err := Up(cmd.Context(), cfg, stdout)
			if err != nil {
				return err
			}
			defer l.Close()
			fmt.Fprintf(stdout, "\ntry: calico-lab exec --name %s host1 -- calicoctl get workloadendpoints -A\n     calico-lab matrix --name %s\n     calico-lab down --name %s\n", *name, *name, *name)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Hosts, "hosts", 1, "number of hosts (1-253)")
	f.IntVar(&cfg.WorkloadsPerHost, "workloads", 2, "workloads per host (0-254)")
	f.BoolVar(&cfg.NoIPv6, "no-ipv6", false, "IPv4 only")
	f.BoolVar(&cfg.CNI, "cni", false, "create the workloads with the calico CNI plugin and Calico IPAM (addresses from the pools' blocks)")
	f.BoolVar(&cfg.Replace, "replace", false, "take down a running lab of the same name first")
	f.StringVar(&bin, "bin", "", "directory holding calico-node and calicoctl (default: next to calico-lab, then ./bin, then PATH)")
	f.StringVar(&cfg.StateDir, "state-dir", "", "datastore, socket and logs (default "+RunDir+"/<name>)")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "calico-node log level")
	f.StringVar(&cfg.BGP, "bgp", BGPMesh, "BGP topology: mesh (node-to-node mesh), rr (mesh off, route reflectors) or none (no BIRD)")
	f.IntVar(&cfg.RouteReflectors, "route-reflectors", 1, "with --bgp rr: how many hosts (host1..) are route reflectors")
	f.BoolVar(&cfg.ExternalRouter, "external-router", false, "add FRR as a top-of-rack router (namespace <name>-tor, AS 65001) peering with every host and announcing "+TORNetworkIPv4.String())
	f.DurationVar(&cfg.BGPRestartTime, "bgp-restart-time", 0, "graceful-restart time of every BGP session (default: BIRD's, 120s)")
	f.DurationVar(&cfg.StartTimeout, "start-timeout", time.Minute, "how long to wait for each process to become ready")
	f.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 2*time.Minute, "how long to wait, once everything runs, for every agent to be ready and every host to have every other host's workload routes")
	f.IntVar(&cfg.EtcdCluster, "etcd-cluster", 0, fmt.Sprintf("run an etcd cluster of this many members (Debian's etcd-server, 1-%d) instead of the embedded datastore", MaxEtcdMembers))
	return cmd
}

func statusCommand(name *string, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a lab's hosts, workloads and processes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := load(*name)
			if err != nil {
				return err
			}
			s := l.Status()
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			if err := s.Write(stdout); err != nil {
				return err
			}
			if !s.Healthy() {
				return errors.New("the lab is degraded (see above): calico-lab down, then up again")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func execCommand(name *string, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec TARGET -- COMMAND [ARG...]",
		Short: "Run a command inside a lab namespace (fabric, hostN or hostN-wM)",
		Long: `exec runs a command inside the namespace of a target: "fabric", a host
("host1") or a workload ("host1-w2"). ETCD_ENDPOINTS is set to the lab's
datastore and the lab's binaries come first on PATH, so calicoctl works as is.
The exit status is the command's.`,
		Example: `  calico-lab exec host1 -- calicoctl get nodes
  calico-lab exec host1 -- ip route
  calico-lab exec host1-w1 -- ping -c 3 fd00:65::1:2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, argv := args[0], args[1:]
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return fmt.Errorf("exec %s: no command; usage: calico-lab exec %s -- COMMAND [ARG...]", target, target)
			}
			l, err := load(*name)
			if err != nil {
				return err
			}
			err = l.Exec(cmd.Context(), target, argv, Stdio{Stdin: stdin, Stdout: stdout, Stderr: stderr})
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return exitCode(128 + int(ws.Signal()))
				}
				return exitCode(ee.ExitCode())
			}
			return err
		},
	}
	// Everything after TARGET belongs to the command.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func matrixCommand(name *string, stdout io.Writer) *cobra.Command {
	var asJSON bool
	var opts MatrixOptions
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Ping every workload from every other; exit 0 only if all pairs reached",
		Long: `matrix pings every workload from every other workload, from inside the
source's namespace, over IPv4 and (in a dual-stack lab) IPv6. A pair counts as
reached when every family answered. The table shows "ok", "v4 only", "v6 only"
or "FAIL" per pair; --json prints
[{"from":..,"to":..,"reached":..,"families":{"ipv4":..,"ipv6":..}}].
The exit status is 0 only when every pair reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := load(*name)
			if err != nil {
				return err
			}
			pairs, err := l.MatrixWith(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				if pairs == nil {
					pairs = []Pair{}
				}
				enc := json.NewEncoder(stdout)
				if err := enc.Encode(pairs); err != nil {
					return err
				}
			} else if err := WriteMatrix(stdout, pairs); err != nil {
				return err
			}
			if !AllReached(pairs) {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print [{"from":..,"to":..,"reached":..}] as JSON`)
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 2*time.Second, "per-ping timeout (whole seconds)")
	cmd.Flags().IntVar(&opts.Parallel, "parallel", 8, "pings at once")
	return cmd
}

func datastoreCommand(name *string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "datastore",
		Short: "Stop and start the lab's datastore (or one etcd member) while the hosts run on",
		Long: `datastore stop ends the lab's datastore (the embedded one, or every member of
its etcd cluster) and leaves everything else running: calico-node on every host
carries on with what it has. datastore start starts it again on the same data.
With an etcd cluster (calico-lab up --etcd-cluster 3), --member N acts on
member N alone: the others keep serving.`,
		Example: `  calico-lab datastore stop
  calico-lab datastore start
  calico-lab datastore stop --member 2 --kill
  calico-lab datastore start --member 2`,
	}
	var member int
	var kill bool
	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop the datastore (SIGTERM, or SIGKILL with --kill)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := load(*name)
			if err != nil {
				return err
			}
			defer l.Close()
			l.SetProgress(stdout)
			sig := syscall.SIGTERM
			if kill {
				sig = syscall.SIGKILL
			}
			if member > 0 {
				return l.StopEtcdMember(cmd.Context(), member, sig)
			}
			return l.StopDatastore(cmd.Context(), sig)
		},
	}
	start := &cobra.Command{
		Use:   "start",
		Short: "Start the datastore again and wait until it answers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := load(*name)
			if err != nil {
				return err
			}
			defer l.Close()
			l.SetProgress(stdout)
			if member > 0 {
				return l.StartEtcdMember(cmd.Context(), member)
			}
			return l.StartDatastore(cmd.Context())
		},
	}
	for _, c := range []*cobra.Command{stop, start} {
		c.Flags().IntVar(&member, "member", 0, "only this etcd member (1-based; a lab with --etcd-cluster)")
	}
	stop.Flags().BoolVar(&kill, "kill", false, "SIGKILL instead of SIGTERM")
	cmd.AddCommand(stop, start)
	return cmd
}

func downCommand(name *string, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Take a lab down: processes, namespaces and files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			found, err := Destroy(cmd.Context(), *name, stdout)
			if err != nil {
				return err
			}
			if !found {
				return noLab(*name)
			}
			return nil
		},
	}
}

// load finds a lab for a command, listing the labs there are when the
// name is wrong.
func load(name string) (*Lab, error) {
	l, err := Load(name)
	if errors.Is(err, ErrNoLab) {
		return nil, noLab(name)
	}
	return l, err
}

func noLab(name string) error {
	names, _ := Names()
	if len(names) == 0 {
		return fmt.Errorf("no lab named %q (there are no labs): start one with calico-lab up", name)
	}
	return fmt.Errorf("no lab named %q; labs here: %s (choose with --name)", name, strings.Join(names, ", "))
}

// findBin returns the directory holding calico-node and calicoctl: flag
// if given, else the directory of the calico-lab executable, ./bin, or
// the directory on PATH holding calico-node.
func findBin(flag string) (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"calico-node", "calicoctl"} {
			fi, err := os.Stat(filepath.Join(dir, b))
			if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if flag != "" {
		abs, err := filepath.Abs(flag)
		if err != nil {
			return "", err
		}
		if !has(abs) {
			return "", fmt.Errorf("--bin %s: calico-node and calicoctl are not both there (build them with make build)", flag)
		}
		return abs, nil
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dir := filepath.Dir(exe)
			if has(dir) {
				return dir, nil
			}
			tried = append(tried, dir)
		}
	}
	if abs, err := filepath.Abs("bin"); err == nil {
		if has(abs) {
			return abs, nil
		}
		tried = append(tried, abs)
	}
	if p, err := exec.LookPath("calico-node"); err == nil {
		if abs, err := filepath.Abs(filepath.Dir(p)); err == nil {
			if has(abs) {
				return abs, nil
			}
			tried = append(tried, abs)
		}
	}
	tried = append(tried, "PATH")
	return "", fmt.Errorf("calico-node and calicoctl not found (looked in %s): build them with make build, or give --bin DIR", strings.Join(tried, ", "))
}
