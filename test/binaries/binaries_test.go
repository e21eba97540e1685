// Package binaries tests the built calico-node and calicoctl as real
// processes: flags, environment variables, TLS to an etcd cluster, the
// embedded datastore on its unix socket, and clean shutdown.
package binaries

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore/etcdtest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "calico-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+"/", "github.com/gocalico/calico/cmd/calico-node", "github.com/gocalico/calico/cmd/calicoctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("building binaries: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env returns a clean environment (no ETCD_* from the caller) plus extra.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "CALICO_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

func calicoctl(t *testing.T, environ []string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "calicoctl"), args...)
	cmd.Env = environ
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

const pool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: tls-pool
spec:
  cidr: 10.70.0.0/16
  natOutgoing: true
`

// TestTLSClusterWithFlagsAndEnv: calico-node takes the TLS settings as
// flags, calicoctl as the upstream environment variables; without a client
// certificate the cluster refuses calicoctl.
func TestTLSClusterWithFlagsAndEnv(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3, etcdtest.WithTLS())
	files := cl.TLS()
	eps := strings.Join(cl.Endpoints(), ",")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, filepath.Join(binDir, "calico-node"), "--init-only", "--nodename", "tls-host", "--ip", "none",
		"--etcd-endpoints", eps, "--etcd-cert", files.ClientCert, "--etcd-key", files.ClientKey, "--etcd-ca", files.CAFile)
	node.Env = env("CALICO_IPV4POOL_CIDR=10.60.0.0/16")
	if out, err := node.CombinedOutput(); err != nil {
		t.Fatalf("calico-node --init-only: %v\n%s", err, out)
	}

	tlsEnv := env("ETCD_ENDPOINTS="+eps, "ETCD_CERT_FILE="+files.ClientCert, "ETCD_KEY_FILE="+files.ClientKey, "ETCD_CA_CERT_FILE="+files.CAFile)
	if out, errOut, err := calicoctl(t, tlsEnv, pool, "create", "-f", "-"); err != nil {
		t.Fatalf("calicoctl create: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err := calicoctl(t, tlsEnv, "", "get", "ippools", "-o", "name")
	if err != nil {
		t.Fatalf("calicoctl get: %v\n%s", err, errOut)
	}
	for _, want := range []string{"default-ipv4-ippool", "tls-pool"} {
		if !strings.Contains(out, want) {
			t.Errorf("calicoctl get ippools -o name = %q, want %s listed", out, want)
		}
	}

	// No client certificate: refused, with a non-zero exit.
	noCert := env("ETCD_ENDPOINTS="+eps, "ETCD_CA_CERT_FILE="+files.CAFile)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	cmd := exec.CommandContext(ctx2, filepath.Join(binDir, "calicoctl"), "get", "ippools", "--etcd-endpoints", eps)
	cmd.Env = noCert
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("calicoctl without a client certificate succeeded:\n%s", out)
	}
}

// TestEmbeddedNodeServesSocket runs calico-node --embedded-etcd as a
// process, uses calicoctl over its unix socket, then stops it with
// SIGTERM: it exits 0 and leaves the data for the next start.
func TestEmbeddedNodeServesSocket(t *testing.T) {
	dir := etcdtest.TempDir(t)
	sock := filepath.Join(dir, "etcd.sock")
	start := func() *exec.Cmd {
		// In the machine's own network namespace: no agent, no autodetected address.
		cmd := exec.Command(filepath.Join(binDir, "calico-node"), "--nodename", "solo", "--agent=false", "--ip", "none",
			"--embedded-etcd", filepath.Join(dir, "data"), "--embedded-etcd-socket", sock, "--embedded-etcd-listen", "")
		cmd.Env = env()
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Logf("calico-node log:\n%s", logs.String())
			}
		})
		return cmd
	}
	sockEnv := env("ETCD_ENDPOINTS=unix://" + sock)
	waitReady := func() {
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, _, err := calicoctl(t, sockEnv, "", "get", "ippool", "default-ipv4-ippool"); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("calico-node did not create its defaults within 60s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stop := func(cmd *exec.Cmd) {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("calico-node after SIGTERM: %v", err)
		}
	}

	node := start()
	waitReady()
	if out, errOut, err := calicoctl(t, sockEnv, strings.ReplaceAll(pool, "10.70.0.0/16", "10.71.0.0/16"), "apply", "-f", "-"); err != nil {
		t.Fatalf("calicoctl apply: %v\n%s%s", err, out, errOut)
	}
	stop(node)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket %s still present after shutdown (err=%v)", sock, err)
	}

	node = start()
	waitReady()
	out, errOut, err := calicoctl(t, sockEnv, "", "get", "ippool", "tls-pool", "-o", "json")
	if err != nil || !strings.Contains(out, `"10.71.0.0/16"`) {
		t.Errorf("after restart, get tls-pool: %v\n%s%s", err, out, errOut)
	}
	stop(node)
}

// TestAgentRefusesInitNetNS: with CALICO_REFUSE_INIT_NETNS set, as every
// test target sets it, calico-node will not run its agent in the machine's
// own network namespace.
func TestAgentRefusesInitNetNS(t *testing.T) {
	dir := etcdtest.TempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "calico-node"), "--nodename", "guarded", "--ip", "none",
		"--embedded-etcd", filepath.Join(dir, "data"), "--embedded-etcd-socket", filepath.Join(dir, "etcd.sock"), "--embedded-etcd-listen", "")
	cmd.Env = env("CALICO_REFUSE_INIT_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("calico-node ran its agent in the initial network namespace:\n%s", out)
	}
	if !strings.Contains(string(out), "refusing to run the agent outside a named network namespace") {
		t.Errorf("calico-node failed, but not with the namespace guard:\n%s", out)
	}
}
