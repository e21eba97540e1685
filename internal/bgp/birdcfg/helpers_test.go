package birdcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
	"github.com/gocalico/calico/internal/testenv"
)

const birdPath = "/usr/sbin/bird"

// loadResources reads a multi-document resource file from testdata.
func loadResources(t testing.TB, file string) []v3.Resource {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := v3.SplitDocuments(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []v3.Resource
	for _, d := range docs {
		r, err := v3.Decode(d.Raw)
		if err != nil {
			t.Fatalf("%s %s: %v", file, d.Location(), err)
		}
		out = append(out, r)
	}
	return out
}

func put(t testing.TB, r v3.Resource) syncer.Update {
	t.Helper()
	k, err := resources.KeyOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return syncer.Update{Type: syncer.UpdateNew, Key: k, Value: r, Revision: 1}
}

// loadInput folds a resource file into a View, with the IPAM block
// affinities of its companion file if there is one (blocks.yaml:
// blocks.affinities), and takes the Input of node.
func loadInput(t testing.TB, file, node string) *Input {
	t.Helper()
	v := NewView()
	var us []syncer.Update
	for _, r := range loadResources(t, file) {
		us = append(us, put(t, r))
	}
	us = append(us, loadAffinities(t, file)...)
	v.OnUpdates(us)
	return v.Input(node)
}

// loadAffinities reads the affinities file beside a resource file: one
// "key value" per line (the value may be empty), # comments. The values
// are decoded as the syncer's decoder does.
func loadAffinities(t testing.TB, file string) []syncer.Update {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", strings.TrimSuffix(file, ".yaml")+".affinities"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var us []syncer.Update
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, val, _ := strings.Cut(l, " ")
		a, err := DecodeAffinity(k, []byte(strings.TrimSpace(val)))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		us = append(us, syncer.Update{Type: syncer.UpdateNew, Key: k, Value: a, Revision: 1})
	}
	return us
}

func requireBIRD(t testing.TB) {
	t.Helper()
	testenv.RequireTools(t, birdPath)
}

// birdParse checks that BIRD accepts config (bird -p only parses; it needs
// no privileges, no socket and starts nothing). When running as root it
// is checked as an unprivileged user too.
func birdParse(t testing.TB, config string) {
	t.Helper()
	// Not t.TempDir: its parent is private to root, and the file must be
	// readable by the unprivileged user too.
	dir, err := os.MkdirTemp("", "birdcfg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := [][]string{{birdPath, "-p", "-c", path}}
	if os.Geteuid() == 0 {
		testenv.RequireTools(t, "setpriv")
		cmds = append(cmds, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", birdPath, "-p", "-c", path})
	}
	for _, c := range cmds {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\nconfig:\n%s", strings.Join(c, " "), err, out, numbered(config))
		}
	}
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d %s\n", i+1, l)
	}
	return b.String()
}
