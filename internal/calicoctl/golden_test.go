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
			got := normalise(ctl.MustRun(t, "", tt.args...).Stdout)
			path := filepath.Join("testdata", tt.golden+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("calicoctl %s (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}
}
