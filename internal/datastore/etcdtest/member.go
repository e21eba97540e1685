package etcdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const stopTimeout = 10 * time.Second

// member is one etcd-server process (or its slot when stopped).
type member struct {
	name, dataDir, logPath string
	clientURL, peerURL     string
	args                   []string

	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited and been reaped
	exitErr error         // set before done is closed
}

func (m *member) buildArgs(initialCluster, token string, tls *TLSFiles) []string {
	args := []string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", initialCluster,
		"--initial-cluster-token", token,
		"--initial-cluster-state", "new",
		// Fast elections keep failover tests short.
		"--heartbeat-interval", "50",
		"--election-timeout", "500",
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
	if tls != nil {
		args = append(args,
			"--cert-file", tls.ServerCert,
			"--key-file", tls.ServerKey,
			"--trusted-ca-file", tls.CAFile,
			"--client-cert-auth")
	}
	return args
}

func (m *member) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// start launches member m, appending its output to its log file.
func (c *Cluster) start(m *member) error {
	if m.running() {
		return fmt.Errorf("member %s already running", m.name)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("member %s log: %w", m.name, err)
	}
	cmd := exec.Command(EtcdServerBin, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = serverEnv()
	// If the test binary dies, the kernel kills the member too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = c.spawn.start(cmd)
	logf.Close()
	if err != nil {
		return fmt.Errorf("member %s start: %w", m.name, err)
	}
	m.cmd, m.done, m.exitErr = cmd, make(chan struct{}), nil
	done := m.done
	go func() {
		m.exitErr = cmd.Wait()
		close(done)
	}()
	return nil
}

// serverEnv is the environment without ETCD_* variables: etcd reads those
// as its own flags (ETCD_CERT_FILE would become --cert-file).
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// signal sends sig to member i's process (ours, by PID) and waits for it
// to exit, sending SIGKILL if it does not within stopTimeout.
func (c *Cluster) signal(i int, sig syscall.Signal) {
	m := c.members[i]
	if !m.running() {
		return
	}
	if err := m.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Errorf("etcdtest: signal member %s: %v", m.name, err)
	}
	select {
	case <-m.done:
	case <-time.After(stopTimeout):
		m.cmd.Process.Kill()
		<-m.done
	}
}

// Kill sends SIGKILL to member i and waits for it to exit.
func (c *Cluster) Kill(i int) { c.signal(i, syscall.SIGKILL) }

// Stop sends SIGTERM to member i and waits for it to exit.
func (c *Cluster) Stop(i int) { c.signal(i, syscall.SIGTERM) }

// Restart starts member i again on its data dir, stopping it first if it
// is running. It does not wait for health: call WaitHealthy.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	if err := c.start(c.members[i]); err != nil {
		c.t.Fatalf("etcdtest: %v", err)
	}
}

// cleanup kills every running member, prints log tails if the test
// failed, and stops the spawner.
func (c *Cluster) cleanup() {
	for i := range c.members {
		c.Kill(i)
	}
	if c.t.Failed() {
		for _, m := range c.members {
			c.t.Logf("etcdtest: last lines of member %s log (%s):\n%s", m.name, m.logPath, tail(m.logPath, 30))
		}
	}
	c.spawn.close()
}

// spawner starts processes from one goroutine locked to its OS thread.
// Pdeathsig fires when the thread that forked a child exits, and Go may
// end threads (a goroutine that exits while locked to one, as namespace
// code does), so children are forked only from a thread that lives as
// long as the cluster.
type spawner struct {
	reqs chan spawnReq
}

type spawnReq struct {
	cmd *exec.Cmd
	res chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	go func() {
		runtime.LockOSThread()
		// Never unlocked: when the loop ends the thread ends too, after
		// every child has been killed.
		for r := range s.reqs {
			r.res <- r.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	res := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, res: res}
	return <-res
}

func (s *spawner) close() { close(s.reqs) }

func nopZap() *zap.Logger { return zap.NewNop() }
