// Package lab builds a Calico test network out of network namespaces on
// one machine: a fabric, hosts running calico-node, and workloads plugged
// into them as a CNI plugin would, with a datastore reached over a unix
// socket.
//
// A lab called L is made of:
//
//   - namespace L-fabric: bridge br0 with 10.99.0.254/24 and fd00:99::fe/64,
//     and the lab's datastore (calico-node --datastore-only, embedded etcd
//     serving only the unix socket <state>/etcd.sock), or with
//     Config.EtcdCluster an etcd cluster (etcd-server processes serving
//     the unix sockets <state>/etcdN:2379; see EtcdMember);
//   - namespace L-hostN (N = 1..253): eth0 joined to br0 by a veth, with
//     10.99.0.N/24 and fd00:99::N/64, default routes through the fabric
//     address, and calico-node --nodename hostN --ip 10.99.0.N/24
//     --ip6 fd00:99::N/64 (log <state>/logs/hostN.log);
//   - namespace L-hostN-wM (M = 1..254): eth0 with 10.65.N.M/32 and
//     fd00:65::N:M/128, MAC 02:00:0a:41:N:M, default routes via 169.254.1.1
//     (onlink) and fe80::ecee:eeff:feee:eeee; its veth's host end in
//     L-hostN is named cali + 11 hex digits as upstream's CNI plugin names
//     it, with MAC ee:ee:ee:ee:ee:ee;
//   - IP pools 10.65.0.0/16 and fd00:65::/48, and one WorkloadEndpoint per
//     workload (orchestrator k8s, namespace default, pod hostN-wM).
//
// The state file RunDir/L/lab.json records the namespaces, processes (PID
// and start time) and addresses, so separate invocations (the calico-lab
// command) find the lab. Nothing is ever done in the machine's root
// network namespace: every link, address, route and sysctl is made inside
// a lab namespace, and every process runs in one.
package lab

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gocalico/calico/internal/datastore"
)

// Lab is a running lab.
type Lab struct {
	progress     io.Writer
	startTimeout time.Duration

	mu     sync.Mutex
	st     *state
	be     datastore.Backend
	reaped map[int]chan struct{} // processes this Lab started, closed once reaped
}

func newLab(st *state, progress io.Writer) *Lab {
	if progress == nil {
		progress = io.Discard
	}
	return &Lab{st: st, progress: progress, startTimeout: time.Minute, reaped: map[int]chan struct{}{}}
}

func (l *Lab) step(format string, args ...any) {
	fmt.Fprintf(l.progress, "%s: %s\n", l.st.Name, fmt.Sprintf(format, args...))
}

// snapshot returns a copy of the state that later changes do not touch.
func (l *Lab) snapshot() state {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := *l.st
	st.Hosts = append([]Host(nil), st.Hosts...)
	st.Workloads = append([]Workload(nil), st.Workloads...)
	st.Namespaces = append([]string(nil), st.Namespaces...)
	st.Etcd = append([]EtcdMember(nil), st.Etcd...)
	return st
}

// record changes the state under the lock and saves it.
func (l *Lab) record(change func(*state)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	change(l.st)
	return l.st.save()
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.st.Name }

// StateDir is where the datastore, socket and logs are.
func (l *Lab) StateDir() string { return l.st.StateDir }

// Bin is the directory of calico-node and calicoctl.
func (l *Lab) Bin() string { return l.st.Bin }

// IPv6 reports whether the lab is dual-stack.
func (l *Lab) IPv6() bool { return l.st.IPv6 }

// Fabric returns the fabric's description.
func (l *Lab) Fabric() Fabric { return l.st.Fabric }

// Hosts returns the hosts, in order.
func (l *Lab) Hosts() []Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Host(nil), l.st.Hosts...)
}

// Workloads returns the workloads the lab knows, by host and index.
func (l *Lab) Workloads() []Workload {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Workload(nil), l.st.Workloads...)
}

// Host returns the host called name ("host1").
func (l *Lab) Host(name string) (Host, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.st.host(name)
	if !ok {
		return Host{}, false
	}
	return *h, true
}

// Workload returns the workload called name ("host1-w2").
func (l *Lab) Workload(name string) (Workload, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.st.workload(name)
	if !ok {
		return Workload{}, false
	}
	return *w, true
}

// Load finds the lab called name from its state file.
func Load(name string) (*Lab, error) {
	st, err := loadState(name)
	if err != nil {
		return nil, err
	}
	return newLab(st, nil), nil
}

// SetProgress sets where Down and later steps report (nil for nowhere).
func (l *Lab) SetProgress(w io.Writer) {
	if w == nil {
		w = io.Discard
	}
	l.progress = w
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// joinAddrs prints the valid addresses, space separated.
func joinAddrs(addrs ...netip.Addr) string {
	var parts []string
	for _, a := range addrs {
		if a.IsValid() {
			parts = append(parts, a.String())
		}
	}
	return strings.Join(parts, " ")
}
