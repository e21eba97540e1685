package calicoctl_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocalico/calico/internal/ipam"
)

// TestIPAMCommands: show (pools, blocks, one address, configuration),
// check with a report, release from it and by address, configure.
func TestIPAMCommands(t *testing.T) {
	ctl, be := newCtl(t)
	ctx := context.Background()
	ctl.MustRun(t, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.9.0.0/24, blockSize: 26}\n", "create", "-f", "-")
	c := ipam.New(be, nil)
	v4, _, err := c.AutoAssign(ctx, ipam.AssignArgs{Num4: 3, HandleID: "k8s-pod-network.abc", Host: "node1",
		Attrs: map[string]string{"pod": "web", "namespace": "default"}})
	if err != nil {
		t.Fatal(err)
	}

	out := ctl.MustRun(t, "", "ipam", "show").Stdout
	for _, want := range []string{"IP Pool", "10.9.0.0/24", "256", "3 (1%)", "253 (99%)"} {
		if !strings.Contains(out, want) {
			t.Errorf("ipam show lacks %q:\n%s", want, out)
		}
	}
	blk := netip.PrefixFrom(v4[0], 26).Masked().String()
	out = ctl.MustRun(t, "", "ipam", "show", "--show-blocks").Stdout
	for _, want := range []string{"Block", blk, "3 (5%)", "host:node1"} {
		if !strings.Contains(out, want) {
			t.Errorf("ipam show --show-blocks lacks %q:\n%s", want, out)
		}
	}
	out = ctl.MustRun(t, "", "ipam", "show", "--ip="+v4[1].String()).Stdout
	for _, want := range []string{"is in use", "k8s-pod-network.abc", "pod: web", "affine to node1"} {
		if !strings.Contains(out, want) {
			t.Errorf("ipam show --ip lacks %q:\n%s", want, out)
		}
	}
	if out := ctl.MustRun(t, "", "ipam", "show", "--ip=10.9.0.250").Stdout; !strings.Contains(out, "not assigned") {
		t.Errorf("a free address: %s", out)
	}
	if res := ctl.Run(t, "", "ipam", "show", "--ip=nonsense"); res.Code == 0 || !strings.Contains(res.Stderr, "--ip") {
		t.Errorf("a bad --ip: exit %d, %s", res.Code, res.Stderr)
	}

	// No endpoint uses the three addresses: the check finds them leaked.
	report := filepath.Join(t.TempDir(), "report.json")
	out = ctl.MustRun(t, "", "ipam", "check", "--show-problem-ips", "-o", report).Stdout
	for _, want := range []string{"Found 3 allocated addresses", "Found 3 leaked", v4[0].String(), "Check complete: 4 problems", "Report written", "affine to hosts that have no Node"} {
		if !strings.Contains(out, want) {
			t.Errorf("ipam check lacks %q:\n%s", want, out)
		}
	}
	var r ipam.Report
	v, _ := os.ReadFile(report)
	if err := json.Unmarshal(v, &r); err != nil || len(r.Leaked) != 3 {
		t.Fatalf("report: %v, %d leaked", err, len(r.Leaked))
	}
	// One is released by address first; the report's release skips it.
	out = ctl.MustRun(t, "", "ipam", "release", "--ip="+v4[0].String()).Stdout
	if !strings.Contains(out, "Successfully released IP "+v4[0].String()) {
		t.Errorf("release --ip: %s", out)
	}
	if res := ctl.Run(t, "", "ipam", "release", "--ip="+v4[0].String()); res.Code == 0 || !strings.Contains(res.Stderr, "not assigned") {
		t.Errorf("releasing it again: exit %d, %s", res.Code, res.Stderr)
	}
	out = ctl.MustRun(t, "", "ipam", "release", "--from-report", report).Stdout
	if !strings.Contains(out, "Released 2 leaked addresses; left 1 that changed") {
		t.Errorf("release --from-report: %s", out)
	}
	if out := ctl.MustRun(t, "", "ipam", "check").Stdout; !strings.Contains(out, "Check complete: 0 problems") {
		t.Errorf("check after the release: %s", out)
	}

	ctl.MustRun(t, "", "ipam", "configure", "--strictaffinity=true", "--max-blocks-per-host=3")
	out = ctl.MustRun(t, "", "ipam", "show", "--show-configuration").Stdout
	for _, want := range []string{"StrictAffinity", "true", "MaxBlocksPerHost", "3"} {
		if !strings.Contains(out, want) {
			t.Errorf("configuration lacks %q:\n%s", want, out)
		}
	}
	if cfg, _ := c.Config(ctx); !cfg.StrictAffinity || cfg.MaxBlocksPerHost != 3 || !cfg.AutoAllocateBlocks {
		t.Errorf("stored configuration %+v", cfg)
	}
	for _, bad := range [][]string{
		{"ipam", "configure", "--strictaffinity=maybe"},
		{"ipam", "configure", "--strictaffinity=false"}, // the cap needs strict affinity
		{"ipam", "configure"},
		{"ipam", "release"},
		{"ipam", "release", "--ip=10.9.0.1", "--from-report=x"},
	} {
		if res := ctl.Run(t, "", bad...); res.Code == 0 {
			t.Errorf("%v: succeeded", bad)
		}
	}
}

// TestIPAMConfigurationWarnsNotImplemented: settings upstream's tools keep
// in the IPAM configuration and this version ignores are named on stderr
// by ipam show --show-configuration, and kept by ipam configure.
func TestIPAMConfigurationWarnsNotImplemented(t *testing.T) {
	ctl, be := newCtl(t)
	const key = "/calico/ipam/v2/config"
	if _, err := be.Create(t.Context(), key, []byte(`{"strict_affinity":false,"auto_allocate_blocks":true,`+
		`"kubeVirtVMAddressPersistence":"Enabled","ipCooldownSeconds":60}`), 0); err != nil {
		t.Fatal(err)
	}
	want := `Warning: IPAM configuration "/calico/ipam/v2/config": ipCooldownSeconds 60 is not implemented by this version; ` +
		"stored but not acted on (a released address is free again at once: no cooldown)\n"
	res := ctl.MustRun(t, "", "ipam", "show", "--show-configuration")
	if res.Stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", res.Stderr, want)
	}
	ctl.MustRun(t, "", "ipam", "configure", "--strictaffinity=true")
	if res := ctl.MustRun(t, "", "ipam", "show", "--show-configuration"); res.Stderr != want {
		t.Errorf("after configure, stderr:\n%s\nwant:\n%s", res.Stderr, want)
	}
}
