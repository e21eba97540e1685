package lab

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gocalico/calico/internal/nsthread"
)

// Stdio are the streams of a command run with Exec (nil: none).
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Namespace returns the namespace of a target: "fabric", a host
// ("host1") or a workload ("host1-w2").
func (l *Lab) Namespace(target string) (string, error) {
	if target == "fabric" {
		return l.st.Fabric.Namespace, nil
	}
	if r, ok := l.Router(); ok && target == r.Name {
		return r.Namespace, nil
	}
	if h, ok := l.Host(target); ok {
		return h.Namespace, nil
	}
	if w, ok := l.Workload(target); ok {
		return w.Namespace, nil
	}
	return "", fmt.Errorf("lab %s: no target %q; targets are %s", l.st.Name, target, strings.Join(l.targets(), ", "))
}

// Run runs f on an OS thread inside target's namespace (see Namespace)
// and returns its error.
func (l *Lab) Run(target string, f func() error) error {
	name, err := l.Namespace(target)
	if err != nil {
		return err
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	defer ns.Close()
	return nsthread.Run(ns, f)
}

func (l *Lab) targets() []string {
	out := []string{"fabric"}
	if r, ok := l.Router(); ok {
		out = append(out, r.Name)
	}
	for _, h := range l.Hosts() {
		out = append(out, h.Name)
	}
	var ws []string
	for _, w := range l.Workloads() {
		ws = append(ws, w.Name)
	}
	sort.Strings(ws)
	return append(out, ws...)
}

// Command prepares argv to run inside target's namespace, with the lab's
// environment: ETCD_ENDPOINTS set to the lab's datastore (so calicoctl
// works) and the lab's binaries first on PATH. The command ends with ctx.
func (l *Lab) Command(ctx context.Context, target string, argv ...string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec in %s: no command", target)
	}
	ns, err := l.Namespace(target)
	if err != nil {
		return nil, err
	}
	if !namespaceExists(ns) {
		return nil, fmt.Errorf("lab %s: namespace %s of %s does not exist", l.st.Name, ns, target)
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Env = l.env()
	if _, ok := l.Host(target); ok {
		// calicoctl node status on a host reads that host's BIRD.
		cmd.Env = append(cmd.Env, "CALICO_BIRD_SOCKET="+l.BIRDSocket(target))
	}
	// Asked to stop: SIGTERM first, so the command can finish (ping
	// prints its summary); SIGKILL if it has not ended 5s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// Exec runs argv inside target's namespace (see Command) and waits for
// it. A non-zero exit is an *exec.ExitError.
func (l *Lab) Exec(ctx context.Context, target string, argv []string, stdio Stdio) error {
	cmd, err := l.Command(ctx, target, argv...)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	return cmd.Run()
}

// Handle returns a netlink handle inside target's namespace; the caller
// closes it.
func (l *Lab) Handle(target string) (*netlink.Handle, error) {
	ns, err := l.Namespace(target)
	if err != nil {
		return nil, err
	}
	return handle(ns)
}
