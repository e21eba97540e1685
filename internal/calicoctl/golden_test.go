package calicoctl_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/calicoctl"
	"github.com/gocalico/calico/internal/calicoctl/ctltest"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedNow is the clock of the golden tests.
var fixedNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	uidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	rvRE  = regexp.MustCompile(`("?resourceVersion"?: )"\d+"`)
)

// normalise replaces what differs from run to run: uids and revisions.
func normalise(s string) string {
	s = uidRE.ReplaceAllString(s, "00000000-0000-0000-0000-000000000000")
	return rvRE.ReplaceAllString(s, `${1}"REV"`)
}

// TestOutputGolden checks every output format of get against golden
// files (go test -run TestOutputGolden -update rewrites them).
func TestOutputGolden(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	ctl := ctltest.Runner{Backend: be, Options: []calicoctl.Option{
		calicoctl.WithClientOptions(resources.WithClock(func() time.Time { return fixedNow })),
	}}
	ctl.MustRun(t, "", "create", "-f", "testdata/golden-input.yaml")

	tests := []struct {
		golden string
		args   []string
	}{
		{"ippools-table", []string{"get", "ippools"}},
		{"ippools-wide", []string{"get", "ippools", "-o", "wide"}},
		{"ippools-name", []string{"get", "ippools", "-o", "name"}},
		{"ippools-yaml", []string{"get", "ippools", "-o", "yaml"}},
		{"ippools-json", []string{"get", "ippools", "-o", "json"}},
		{"ippool-yaml", []string{"get", "ippool", "pool-a", "-o", "yaml"}},
		{"ippool-json", []string{"get", "ippool", "pool-b", "-o", "json"}},
		{"policies-all-namespaces", []string{"get", "networkpolicies", "-A"}},
		{"policies-wide", []string{"get", "networkpolicies", "-n", "ns1", "-o", "wide"}},
		{"weps-wide", []string{"get", "workloadendpoints", "-A", "-o", "wide"}},
		{"file-table", []string{"get", "-f", "testdata/golden-input.yaml"}},
		{"file-name", []string{"get", "-f", "testdata/golden-input.yaml", "-o", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			checkGolden(t, tt.golden, normalise(ctl.MustRun(t, "", tt.args...).Stdout))
		})
	}
}

// TestOutputGoldenEmptyDeleteNodes: an empty list prints its header in
// the table formats and an empty List in yaml and json; delete
// --skip-not-exists says what it deleted and what it skipped; nodes -o
// wide shows an inherited AS number in parentheses. Each step runs after
// the ones before it, against one datastore.
func TestOutputGoldenEmptyDeleteNodes(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	ctl := ctltest.Runner{Backend: be, Options: []calicoctl.Option{
		calicoctl.WithClientOptions(resources.WithClock(func() time.Time { return fixedNow })),
	}}
	const nodes = `apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node-a}
spec: {bgp: {asNumber: 65010, ipv4Address: 10.0.0.1/24}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node-b}
spec: {bgp: {ipv4Address: 10.0.0.2/24, ipv6Address: "fd00::2/64"}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node-c}
spec: {}
`
	const globalAS = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 65001}
`
	steps := []struct {
		golden string
		stdin  string // applied before the command, when set
		args   []string
	}{
		{"empty-ippools-table", "", []string{"get", "ippools"}},
		{"empty-ippools-wide", "", []string{"get", "ippools", "-o", "wide"}},
		{"empty-ippools-yaml", "", []string{"get", "ippools", "-o", "yaml"}},
		{"empty-ippools-json", "", []string{"get", "ippools", "-o", "json"}},
		{"empty-ippools-name", "", []string{"get", "ippools", "-o", "name"}},
		{"empty-policies-all-namespaces", "", []string{"get", "networkpolicies", "-A"}},
		{"empty-weps-wide", "", []string{"get", "workloadendpoints", "-A", "-o", "wide"}},
		{"delete-skip-not-exists", "", []string{"delete", "ippool", "nope", "--skip-not-exists"}},
		{"delete-file-skip-not-exists", pool("a", "10.1.0.0/16"),
			[]string{"delete", "ippools", "a", "nope", "--skip-not-exists"}},
		{"nodes-wide-default-as", nodes, []string{"get", "nodes", "-o", "wide"}},
		{"nodes-wide-global-as", globalAS, []string{"get", "nodes", "-o", "wide"}},
		{"node-wide-global-as", "", []string{"get", "node", "node-b", "-o", "wide"}},
	}
	for _, st := range steps {
		if st.stdin != "" {
			ctl.MustRun(t, st.stdin, "apply", "-f", "-")
		}
		checkGolden(t, st.golden, normalise(ctl.MustRun(t, "", st.args...).Stdout))
	}
}

// TestNodesAsUpstreamPrintsThem: the Nodes upstream calicoctl stored
// print as it printed them (testdata/upstream), the last column's padding
// and the blank line after the table aside.
func TestNodesAsUpstreamPrintsThem(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	for _, n := range []string{"node-a", "node-b"} {
		v, err := os.ReadFile(filepath.Join("testdata", "upstream", n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := be.Create(t.Context(), resources.Prefix+"nodes/"+n, v, 0); err != nil {
			t.Fatal(err)
		}
	}
	ctl := ctltest.Runner{Backend: be}
	for file, args := range map[string][]string{
		"nodes.txt":      {"get", "nodes"},
		"nodes.wide.txt": {"get", "nodes", "-o", "wide"},
	} {
		want, err := os.ReadFile(filepath.Join("testdata", "upstream", file))
		if err != nil {
			t.Fatal(err)
		}
		got := ctl.MustRun(t, "", args...).Stdout
		if diff := cmp.Diff(trimLines(string(want)), trimLines(got)); diff != "" {
			t.Errorf("calicoctl %s (-upstream +got):\n%s", strings.Join(args, " "), diff)
		}
	}
}

// trimLines removes trailing spaces from every line, and the blank line
// upstream ends its tables with.
func trimLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
