package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
)

// StartNode starts calico-node in host's namespace (log
// <state>/logs/<host>.log) and records it. It does not wait for it.
func (l *Lab) StartNode(ctx context.Context, host string) error {
	h, ok := l.Host(host)
	if !ok {
		return fmt.Errorf("lab %s: no host %q", l.st.Name, host)
	}
	if l.alive(h.Node) {
		return fmt.Errorf("%s: calico-node already running (pid %d)", host, h.Node.PID)
	}
	// The Node resource gets the host's fabric addresses, not whatever
	// autodetection would pick.
	ip6 := "none"
	if h.IPv6.IsValid() {
		ip6 = prefix(h.IPv6, fabric6Bits).String()
	}
	argv := []string{filepath.Join(l.st.Bin, "calico-node"), "--nodename", h.Name,
		"--etcd-endpoints", l.Endpoints(), "--log-level", l.st.LogLevel,
		"--ip", prefix(h.IPv4, fabricPrefix).String(), "--ip6", ip6,
		"--bird-dir", birdDir(l.st.StateDir, h.Name)}
	if l.st.BGP == BGPNone {
		argv = append(argv, "--networking-backend", BackendNone)
	}
	p, err := l.startProcess(h.Namespace, argv, l.env("NO_DEFAULT_POOLS=true"), filepath.Join(l.st.StateDir, "logs", h.Name+".log"))
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	return l.record(func(s *state) {
		hp, _ := s.host(host)
		hp.Node = p
	})
}

// StopNode sends sig to host's calico-node and waits (bounded by ctx)
// until it has exited. A node that is not running is success.
func (l *Lab) StopNode(ctx context.Context, host string, sig syscall.Signal) error {
	h, ok := l.Host(host)
	if !ok {
		return fmt.Errorf("lab %s: no host %q", l.st.Name, host)
	}
	if err := l.signal(h.Node, sig); err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	if err := l.waitExit(ctx, h.Node); err != nil {
		return fmt.Errorf("%s: calico-node: %w", host, err)
	}
	return l.record(func(s *state) {
		hp, _ := s.host(host)
		hp.Node = Process{}
	})
}

// NodeRunning reports whether host's calico-node is running.
func (l *Lab) NodeRunning(host string) bool {
	h, ok := l.Host(host)
	return ok && l.alive(h.Node)
}
