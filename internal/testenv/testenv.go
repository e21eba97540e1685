// Package testenv decides what a test does when the machine lacks what it
// needs (root, a tool, a built binary): skip it on a developer's machine,
// fail it, naming what is missing, where CALICO_REQUIRE_PRIVILEGED=1 (make
// test, CI). The one skip that stays a skip is a kernel feature the kernel
// lacks, which no package can install.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EnvRequire, set to 1, turns every skip for a missing requirement into
// a failure. The Makefile's test targets set it.
const EnvRequire = "CALICO_REQUIRE_PRIVILEGED"

// KernelLacksPrefix starts the message of every SkipKernelLacks skip, so
// that test reports can tell these allowed skips from the others.
const KernelLacksPrefix = "kernel lacks feature "

// Required reports whether a missing requirement fails the test
// (CALICO_REQUIRE_PRIVILEGED=1) rather than skipping it.
func Required() bool { return host.required() }

// SkipOrFail skips t with reason, or fails it with reason when
// requirements are required.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	host.skipOrFail(t, reason)
}

// RequireRoot skips or fails t unless it runs as root; why says what the
// test does that needs root ("creates network namespaces").
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	host.requireRoot(t, why)
}

// RequireTools skips or fails t unless every tool is installed: a name
// is looked up on PATH and in /usr/sbin and /sbin, an absolute path must
// exist. The message names the Debian package that has the tool.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	host.requireTools(t, tools...)
}

// RequireFile skips or fails t unless path exists; hint says how to make
// it ("run make build").
func RequireFile(t testing.TB, path, hint string) {
	t.Helper()
	host.requireFile(t, path, hint)
}

// SkipKernelLacks skips t because the running kernel lacks feature (for
// example "IPIP"); evidence is what showed it (the error of `ip link add
// type ipip`). It stays a skip when requirements are required: no
// package installs a kernel feature. The message starts with
// KernelLacksPrefix and the feature, which must be named.
func SkipKernelLacks(t testing.TB, feature, evidence string) {
	t.Helper()
	if feature == "" {
		t.Fatal("testenv.SkipKernelLacks: the missing kernel feature must be named")
	}
	t.Skipf("%s%s: %s", KernelLacksPrefix, feature, evidence)
}

// env is what the checks read from the machine; tests replace it.
type env struct {
	getenv   func(string) string
	geteuid  func() int
	lookPath func(string) (string, error)
	stat     func(string) (os.FileInfo, error)
}

var host = env{getenv: os.Getenv, geteuid: os.Geteuid, lookPath: exec.LookPath, stat: os.Stat}

func (e env) required() bool { return e.getenv(EnvRequire) == "1" }

func (e env) skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if e.required() {
		t.Fatalf("%s (%s=1: a missing requirement fails the test)", reason, EnvRequire)
	}
	t.Skip(reason)
}

func (e env) requireRoot(t testing.TB, why string) {
	t.Helper()
	if e.geteuid() == 0 {
		return
	}
	reason := "privileged test: needs root"
	if why != "" {
		reason += " (" + why + ")"
	}
	e.skipOrFail(t, reason+": run it as root")
}

func (e env) requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if e.found(tool) {
			continue
		}
		what := tool
		if pkg := debianPackage(tool); pkg != "" {
			what += " (Debian package " + pkg + ")"
		}
		e.skipOrFail(t, "needs "+what+": run make deps")
		return
	}
}

func (e env) found(tool string) bool {
	if filepath.IsAbs(tool) {
		fi, err := e.stat(tool)
		return err == nil && !fi.IsDir()
	}
	if _, err := e.lookPath(tool); err == nil {
		return true
	}
	// Not every PATH has the sbin directories (a non-root login's).
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if fi, err := e.stat(filepath.Join(dir, tool)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

func (e env) requireFile(t testing.TB, path, hint string) {
	t.Helper()
	if _, err := e.stat(path); err == nil {
		return
	}
	reason := "needs " + path
	if hint != "" {
		reason += ": " + hint
	}
	e.skipOrFail(t, reason)
}

// debianPackage names the Debian package of a tool the tests use ("" when
// unknown). hack/deps.sh installs them.
func debianPackage(tool string) string {
	switch filepath.Base(tool) {
	case "ip":
		return "iproute2"
	case "bird", "birdc":
		return "bird2"
	case "nft":
		return "nftables"
	case "ping":
		return "iputils-ping"
	case "etcd":
		return "etcd-server"
	case "etcdctl":
		return "etcd-client"
	case "vtysh", "zebra", "bgpd", "watchfrr":
		return "frr"
	case "setpriv":
		return "util-linux"
	}
	return ""
}
