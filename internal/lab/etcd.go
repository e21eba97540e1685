package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdServerBin is the etcd of Debian's etcd-server package, which a lab
// with an etcd cluster (Config.EtcdCluster) runs.
const EtcdServerBin = "/usr/bin/etcd"

// MaxEtcdMembers bounds Config.EtcdCluster.
const MaxEtcdMembers = 7

// EtcdMember is one member of the lab's etcd cluster: an etcd-server
// process in the fabric namespace serving clients on a unix socket (so
// every namespace, the machine's own included, reaches it) and its peers
// on the fabric namespace's loopback.
type EtcdMember struct {
	// Name is "etcd1", "etcd2", ...
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Socket is the client socket: <state>/etcdN:2379 (etcd 3.4 wants
	// a unix socket named like host:port, relative to its working
	// directory, the state directory).
	Socket  string `json:"socket"`
	PeerURL string `json:"peerURL"`
	DataDir string `json:"dataDir"`
	Log     string `json:"log"`
	// Process is the running member (PID 0 when stopped).
	Process Process `json:"process"`
}

// Endpoint is the member's client URL.
func (m EtcdMember) Endpoint() string { return "unix://" + m.Socket }

func etcdMemberName(i int) string { return "etcd" + strconv.Itoa(i) }

// newEtcdMembers describes a cluster of n members under stateDir.
func newEtcdMembers(stateDir string, n int) []EtcdMember {
	var ms []EtcdMember
	for i := 1; i <= n; i++ {
		name := etcdMemberName(i)
		ms = append(ms, EtcdMember{
			Name:    name,
			Index:   i,
			Socket:  filepath.Join(stateDir, name+":2379"),
			PeerURL: "http://127.0.0.1:" + strconv.Itoa(2380+i),
			DataDir: filepath.Join(stateDir, name),
			Log:     filepath.Join(stateDir, "logs", name+".log"),
		})
	}
	return ms
}

// etcdArgv is member m's command line in a cluster of members.
func etcdArgv(labName string, m EtcdMember, members []EtcdMember) []string {
	var initial []string
	for _, o := range members {
		initial = append(initial, o.Name+"="+o.PeerURL)
	}
	client := "unix://" + filepath.Base(m.Socket)
	return []string{EtcdServerBin,
		"--name", m.Name,
		"--data-dir", m.DataDir,
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-token", "calico-lab-" + labName,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
}

// etcdEnv is the environment of a member: without ETCD_* variables,
// which etcd would read as its own flags.
func etcdEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// EtcdMembers returns the members of the lab's etcd cluster; none when
// the lab runs the embedded datastore.
func (l *Lab) EtcdMembers() []EtcdMember {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]EtcdMember(nil), l.st.Etcd...)
}

func (l *Lab) etcdMember(i int) (EtcdMember, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.st.Etcd) == 0 {
		return EtcdMember{}, fmt.Errorf("lab %s runs the embedded datastore, not an etcd cluster (calico-lab up --etcd-cluster 3)", l.st.Name)
	}
	if i < 1 || i > len(l.st.Etcd) {
		return EtcdMember{}, fmt.Errorf("lab %s: no etcd member %d (members are 1-%d)", l.st.Name, i, len(l.st.Etcd))
	}
	return l.st.Etcd[i-1], nil
}

// startEtcdMember starts member i (1-based) in the fabric namespace and
// records it; it does not wait for it.
func (l *Lab) startEtcdMember(i int) error {
	m, err := l.etcdMember(i)
	if err != nil {
		return err
	}
	if l.alive(m.Process) {
		return fmt.Errorf("etcd member %s already running (pid %d)", m.Name, m.Process.PID)
	}
	if err := removeStaleSocket(m.Socket); err != nil {
		return fmt.Errorf("etcd member %s: %w", m.Name, err)
	}
	st := l.snapshot()
	argv := etcdArgv(st.Name, m, st.Etcd)
	p, err := l.startProcessIn(st.Fabric.Namespace, st.StateDir, argv, etcdEnv(), m.Log)
	if err != nil {
		return fmt.Errorf("etcd member %s: %w", m.Name, err)
	}
	return l.record(func(s *state) { s.Etcd[i-1].Process = p })
}

// startEtcdCluster starts every member that is not running and waits
// until the cluster serves a linearizable read.
func (l *Lab) startEtcdCluster(ctx context.Context) error {
	if _, err := os.Stat(EtcdServerBin); err != nil {
		return fmt.Errorf("etcd cluster: %s not found: install etcd-server (make deps)", EtcdServerBin)
	}
	for _, m := range l.EtcdMembers() {
		if l.alive(m.Process) {
			continue
		}
		if err := l.startEtcdMember(m.Index); err != nil {
			return err
		}
	}
	for _, m := range l.EtcdMembers() {
		if err := l.waitFor(ctx, m.Process, "etcd member "+m.Name, l.startTimeout, l.memberAnswers(m)); err != nil {
			return err
		}
	}
	var names []string
	for _, m := range l.EtcdMembers() {
		names = append(names, fmt.Sprintf("%s (pid %d)", m.Name, m.Process.PID))
	}
	l.step("datastore: etcd cluster in %s: %s; %s", l.st.Fabric.Namespace, strings.Join(names, ", "), l.Endpoints())
	return nil
}

// StopEtcdMember sends sig (SIGTERM or SIGKILL) to member i (1-based)
// and waits until it has exited. A member that is not running is
// success.
func (l *Lab) StopEtcdMember(ctx context.Context, i int, sig syscall.Signal) error {
	m, err := l.etcdMember(i)
	if err != nil {
		return err
	}
	if err := l.signal(m.Process, sig); err != nil {
		return fmt.Errorf("etcd member %s: %w", m.Name, err)
	}
	if err := l.waitExit(ctx, m.Process); err != nil {
		return fmt.Errorf("etcd member %s: %w", m.Name, err)
	}
	l.step("etcd member %s stopped (%v)", m.Name, sig)
	return l.record(func(s *state) { s.Etcd[i-1].Process = Process{} })
}

// StartEtcdMember starts member i (1-based) again on its data directory
// and waits until it serves a linearizable read through its own socket:
// it has rejoined the cluster and caught up.
func (l *Lab) StartEtcdMember(ctx context.Context, i int) error {
	if err := l.startEtcdMember(i); err != nil {
		return err
	}
	m, _ := l.etcdMember(i)
	if err := l.waitFor(ctx, m.Process, "etcd member "+m.Name, l.startTimeout, l.memberAnswers(m)); err != nil {
		return err
	}
	l.step("etcd member %s running (pid %d)", m.Name, m.Process.PID)
	return nil
}

// removeStaleSocket removes the socket a killed member left (etcd 3.4
// does not, and then cannot bind it again); a socket something still
// answers on, or a file that is no socket, is left alone.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: something still listens on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// EtcdMemberStatus is what one member says of itself.
type EtcdMemberStatus struct {
	Name string
	// Leader: this member is the raft leader.
	Leader bool
	// Revision is the store revision the member has applied.
	Revision int64
	// RaftIndex is the member's applied raft index.
	RaftIndex uint64
}

// EtcdMemberStatus asks member i (1-based), alone, for its status.
func (l *Lab) EtcdMemberStatus(ctx context.Context, i int) (EtcdMemberStatus, error) {
	m, err := l.etcdMember(i)
	if err != nil {
		return EtcdMemberStatus{}, err
	}
	cli, err := memberClient(m)
	if err != nil {
		return EtcdMemberStatus{}, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, m.Endpoint())
	if err != nil {
		return EtcdMemberStatus{}, fmt.Errorf("etcd member %s: status: %w", m.Name, err)
	}
	return EtcdMemberStatus{
		Name:      m.Name,
		Leader:    st.Leader != 0 && st.Leader == st.Header.MemberId,
		Revision:  st.Header.Revision,
		RaftIndex: st.RaftAppliedIndex,
	}, nil
}

// EtcdLeader returns the index (1-based) of the member that is raft
// leader.
func (l *Lab) EtcdLeader(ctx context.Context) (int, error) {
	var errs []error
	for _, m := range l.EtcdMembers() {
		if !l.alive(m.Process) {
			continue
		}
		st, err := l.EtcdMemberStatus(ctx, m.Index)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Leader {
			return m.Index, nil
		}
	}
	return 0, fmt.Errorf("lab %s: no etcd member is leader: %w", l.st.Name, errors.Join(errs...))
}

// memberClient is an etcd client of member m alone.
func memberClient(m EtcdMember) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{m.Endpoint()},
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd member %s: %w", m.Name, err)
	}
	return cli, nil
}

// memberAnswers reports whether m serves a linearizable read through its
// own socket: it is part of a cluster with a leader and has caught up.
func (l *Lab) memberAnswers(m EtcdMember) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		if _, err := os.Stat(m.Socket); err != nil {
			return false, nil
		}
		cli, err := memberClient(m)
		if err != nil {
			return false, err
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := cli.Get(ctx, "/calico-lab/health"); err != nil {
			return false, fmt.Errorf("etcd member %s: %w", m.Name, err)
		}
		return true, nil
	}
}
