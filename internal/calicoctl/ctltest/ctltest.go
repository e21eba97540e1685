// Package ctltest runs calicoctl commands in-process for tests.
package ctltest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gocalico/calico/internal/calicoctl"
	"github.com/gocalico/calico/internal/datastore"
)

// Result is what one calicoctl run printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Runner runs calicoctl against a backend.
type Runner struct {
	// Backend is used by every command; nil makes the commands connect
	// from their --etcd-* flags.
	Backend datastore.Backend
	// Options are passed to NewRootCommand after the backend.
	Options []calicoctl.Option
}

// Run runs calicoctl with args, stdin as standard input, and returns what
// it printed and its exit code (0 or 1).
func (r Runner) Run(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	var out, errOut bytes.Buffer
	opts := r.Options
	if r.Backend != nil {
		opts = append([]calicoctl.Option{calicoctl.WithBackend(r.Backend)}, opts...)
	}
	cmd := calicoctl.NewRootCommand(strings.NewReader(stdin), &out, &errOut, opts...)
	cmd.SetArgs(args)
	res := Result{}
	if err := calicoctl.Execute(context.Background(), cmd); err != nil {
		res.Code = 1
	}
	res.Stdout, res.Stderr = out.String(), errOut.String()
	return res
}

// MustRun is Run that fails the test unless the command succeeds.
func (r Runner) MustRun(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	res := r.Run(t, stdin, args...)
	if res.Code != 0 {
		t.Fatalf("calicoctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.Code, res.Stdout, res.Stderr)
	}
	return res
}
