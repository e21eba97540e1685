package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeTB records how a check ended the test: Fatal and Skip stop the
// calling goroutine as the real ones do.
type fakeTB struct {
	testing.TB        // not implemented: calling anything else panics
	ended      string // "fatal", "skip" or "" (the check let the test go on)
	msg        string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) { f.end("fatal", fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.end("fatal", fmt.Sprintf(format, args...))
}
func (f *fakeTB) Skip(args ...any) { f.end("skip", fmt.Sprint(args...)) }
func (f *fakeTB) Skipf(format string, args ...any) {
	f.end("skip", fmt.Sprintf(format, args...))
}

func (f *fakeTB) end(how, msg string) {
	f.ended, f.msg = how, msg
	runtime.Goexit()
}

// outcome is how a check ended a fake test, and whether the code after
// the check ran.
type outcome struct {
	Ended  string
	Msg    string
	WentOn bool
}

// run calls check on a fake test in a goroutine of its own (Fatal and
// Skip end that goroutine) and reports how it ended.
func run(check func(t testing.TB)) outcome {
	f := &fakeTB{}
	wentOn := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(f)
		wentOn = true
	}()
	<-done
	return outcome{Ended: f.ended, Msg: f.msg, WentOn: wentOn}
}

type fakeFile struct{ fs.FileInfo }

func (fakeFile) IsDir() bool { return false }

// machine is a fake machine: the user, the switch and the files on it.
func machine(euid int, require string, files ...string) env {
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	return env{
		getenv: func(k string) string {
			if k == EnvRequire {
				return require
			}
			return ""
		},
		geteuid: func() int { return euid },
		lookPath: func(name string) (string, error) {
			if have["/usr/bin/"+name] {
				return "/usr/bin/" + name, nil
			}
			return "", errors.New("executable file not found in $PATH")
		},
		stat: func(p string) (os.FileInfo, error) {
			if have[p] {
				return fakeFile{}, nil
			}
			return nil, fs.ErrNotExist
		},
	}
}

func TestChecks(t *testing.T) {
	const required = "(CALICO_REQUIRE_PRIVILEGED=1: a missing requirement fails the test)"
	root := func(why string) func(env) func(testing.TB) {
		return func(e env) func(testing.TB) { return func(t testing.TB) { e.requireRoot(t, why) } }
	}
	tools := func(names ...string) func(env) func(testing.TB) {
		return func(e env) func(testing.TB) { return func(t testing.TB) { e.requireTools(t, names...) } }
	}
	file := func(path, hint string) func(env) func(testing.TB) {
		return func(e env) func(testing.TB) { return func(t testing.TB) { e.requireFile(t, path, hint) } }
	}
	skipOrFail := func(reason string) func(env) func(testing.TB) {
		return func(e env) func(testing.TB) { return func(t testing.TB) { e.skipOrFail(t, reason) } }
	}
	for _, tc := range []struct {
		name  string
		env   env
		check func(env) func(testing.TB)
		want  outcome
	}{{
		name:  "root present",
		env:   machine(0, "1"),
		check: root("creates network namespaces"),
		want:  outcome{WentOn: true},
	}, {
		name:  "not root, not required: skip",
		env:   machine(1000, ""),
		check: root("creates network namespaces"),
		want:  outcome{Ended: "skip", Msg: "privileged test: needs root (creates network namespaces): run it as root"},
	}, {
		name:  "not root, required: fail",
		env:   machine(1000, "1"),
		check: root("creates network namespaces"),
		want:  outcome{Ended: "fatal", Msg: "privileged test: needs root (creates network namespaces): run it as root " + required},
	}, {
		name:  "not root, switch set to something else than 1: skip",
		env:   machine(1000, "0"),
		check: root(""),
		want:  outcome{Ended: "skip", Msg: "privileged test: needs root: run it as root"},
	}, {
		name:  "tools on PATH and in /usr/sbin",
		env:   machine(0, "1", "/usr/bin/ip", "/usr/sbin/bird"),
		check: tools("ip", "bird"),
		want:  outcome{WentOn: true},
	}, {
		name:  "tool missing, not required: skip naming the first missing tool and its package",
		env:   machine(0, "", "/usr/bin/ip"),
		check: tools("ip", "bird", "nft"),
		want:  outcome{Ended: "skip", Msg: "needs bird (Debian package bird2): run make deps"},
	}, {
		name:  "absolute tool path missing, required: fail",
		env:   machine(0, "1", "/usr/bin/bird"),
		check: tools("/usr/sbin/bird"),
		want:  outcome{Ended: "fatal", Msg: "needs /usr/sbin/bird (Debian package bird2): run make deps " + required},
	}, {
		name:  "tool of no known package, required: fail",
		env:   machine(0, "1"),
		check: tools("frobnicate"),
		want:  outcome{Ended: "fatal", Msg: "needs frobnicate: run make deps " + required},
	}, {
		name:  "file present",
		env:   machine(1000, "1", "/repo/bin/calico-node"),
		check: file("/repo/bin/calico-node", "run make build"),
		want:  outcome{WentOn: true},
	}, {
		name:  "file missing, required: fail",
		env:   machine(0, "1"),
		check: file("/repo/bin/calico-node", "run make build"),
		want:  outcome{Ended: "fatal", Msg: "needs /repo/bin/calico-node: run make build " + required},
	}, {
		name:  "file missing, not required: skip",
		env:   machine(0, ""),
		check: file("/repo/bin/calico-node", "run make build"),
		want:  outcome{Ended: "skip", Msg: "needs /repo/bin/calico-node: run make build"},
	}, {
		name:  "general reason, required: fail",
		env:   machine(0, "1"),
		check: skipOrFail("needs a second CPU"),
		want:  outcome{Ended: "fatal", Msg: "needs a second CPU " + required},
	}, {
		name:  "general reason, not required: skip",
		env:   machine(0, ""),
		check: skipOrFail("needs a second CPU"),
		want:  outcome{Ended: "skip", Msg: "needs a second CPU"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.check(tc.env))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSkipKernelLacks: a kernel feature the kernel lacks stays a skip even
// when requirements are required, and it must be named.
func TestSkipKernelLacks(t *testing.T) {
	t.Setenv(EnvRequire, "1")
	for _, tc := range []struct {
		name, feature string
		want          outcome
	}{{
		name:    "named",
		feature: "IPIP",
		want:    outcome{Ended: "skip", Msg: "kernel lacks feature IPIP: ip link add type ipip: operation not supported"},
	}, {
		name: "unnamed",
		want: outcome{Ended: "fatal", Msg: "testenv.SkipKernelLacks: the missing kernel feature must be named"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(func(t testing.TB) { SkipKernelLacks(t, tc.feature, "ip link add type ipip: operation not supported") })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequiredReadsTheEnvironment: the exported functions read the real
// environment variable.
func TestRequiredReadsTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"1", true}, {"", false}, {"0", false}, {"yes", false}} {
		t.Setenv(EnvRequire, tc.value)
		if got := Required(); got != tc.want {
			t.Errorf("%s=%q: Required() = %v, want %v", EnvRequire, tc.value, got, tc.want)
		}
		got := run(func(t testing.TB) { SkipOrFail(t, "needs nothing really") })
		want := "skip"
		if tc.want {
			want = "fatal"
		}
		if got.Ended != want {
			t.Errorf("%s=%q: SkipOrFail ended the test with %q, want %q", EnvRequire, tc.value, got.Ended, want)
		}
	}
}
