package lab

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInterfaceName(t *testing.T) {
	// Expected values from `echo -n default.<pod> | sha1sum`.
	for pod, want := range map[string]string{
		"host1-w1":  "calia1c3640263d",
		"host2-w10": "cali06fafa0c189",
	} {
		if got := InterfaceName("default", pod); got != want {
			t.Errorf("InterfaceName(default, %s) = %s, want %s", pod, got, want)
		}
		if n := len(InterfaceName("default", pod)); n != 15 {
			t.Errorf("InterfaceName length %d, want 15 (IFNAMSIZ-1)", n)
		}
	}
}

func TestAddressPlan(t *testing.T) {
	got := []string{
		hostIPv4(1).String(), hostIPv6(1).String(), hostIPv6(253).String(),
		workloadIPv4(1, 2).String(), workloadIPv6(1, 2).String(), workloadIPv6(12, 254).String(),
		workloadMAC(1, 2).String(), workloadMAC(253, 254).String(),
	}
	want := []string{
		"10.99.0.1", "fd00:99::1", "fd00:99::fd",
		"10.65.1.2", "fd00:65::1:2", "fd00:65::c:fe",
		"02:00:0a:41:01:02", "02:00:0a:41:fd:fe",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
}

func TestNames(t *testing.T) {
	got := []string{HostName(3), WorkloadName(3, 12), fabricNamespace("lab"), hostNamespace("lab", 2), workloadNamespace("a-b", 2, 3)}
	want := []string{"host3", "host3-w12", "lab-fabric", "lab-host2", "a-b-host2-w3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestNamespaceREOwnsOnlyItsLab(t *testing.T) {
	re := namespaceRE("lab")
	for ns, want := range map[string]bool{
		"lab-fabric":       true,
		"lab-host1":        true,
		"lab-host12-w3":    true,
		"lab2-fabric":      false,
		"lab-2-fabric":     false,
		"lab-2-host1":      false,
		"lab-host1-w1-x":   false,
		"lab-hostx":        false,
		"xlab-host1":       false,
		"lab-fabric-extra": false,
	} {
		if got := re.MatchString(ns); got != want {
			t.Errorf("namespaceRE(lab).MatchString(%q) = %v, want %v", ns, got, want)
		}
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	c, err := Config{Hosts: 1, Bin: "/x"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "lab" || c.StateDir != "/run/calico-lab/lab" || c.LogLevel != "info" || c.NoIPv6 {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Hosts: 0, Bin: "/x"}, "hosts 0: must be 1-253"},
		{Config{Hosts: 254, Bin: "/x"}, "hosts 254"},
		{Config{Hosts: 1, WorkloadsPerHost: 255, Bin: "/x"}, "workloads per host 255"},
		{Config{Hosts: 1, Name: "Lab", Bin: "/x"}, `lab name "Lab"`},
		{Config{Hosts: 1, Name: "a_b", Bin: "/x"}, `lab name "a_b"`},
		{Config{Hosts: 1, Name: strings.Repeat("a", 25), Bin: "/x"}, "at most 24"},
		{Config{Hosts: 1}, "no binary directory"},
		{Config{Hosts: 1, Bin: "/x", StateDir: "/" + strings.Repeat("d", 100)}, "longer than 107 bytes"},
	} {
		_, err := tc.cfg.withDefaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("withDefaults(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}
