package cni

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseRuntimeArgs(t *testing.T) {
	tests := []struct {
		in     string
		want   RuntimeArgs
		errHas string
	}{
		{in: "", want: RuntimeArgs{}},
		{
			in:   "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;OTHER=x",
			want: RuntimeArgs{PodNamespace: "prod", PodName: "web-0", InfraContainerID: "abc"},
		},
		{in: "IP=10.0.0.5, fd00::5", want: RuntimeArgs{IPs: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}}},
		{in: "IP=10.0.0.300", errHas: `CNI_ARGS IP "10.0.0.300": not an IP address`},
		{in: "K8S_POD_NAME=web", errHas: "K8S_POD_NAME and K8S_POD_NAMESPACE must be given together"},
		{in: "K8S_POD_NAME", errHas: `CNI_ARGS entry 0 "K8S_POD_NAME": want KEY=value`},
	}
	for _, tt := range tests {
		got, err := ParseRuntimeArgs(tt.in)
		if tt.errHas != "" {
			var te *types.Error
			if !errors.As(err, &te) || te.Code != types.ErrInvalidEnvironmentVariables || !strings.Contains(te.Msg, tt.errHas) {
				t.Errorf("ParseRuntimeArgs(%q): got %v, want code 4 containing %q", tt.in, err, tt.errHas)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRuntimeArgs(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("ParseRuntimeArgs(%q) (-want +got)\n%s", tt.in, diff)
		}
	}
}

func TestIdentityNames(t *testing.T) {
	cfg := &Config{NetConf: NetConf{Name: "k8s-pod-network"}, Node: "node-1"}
	tests := []struct {
		name                            string
		containerID, ifName             string
		args                            RuntimeArgs
		wantWEP, wantVeth, wantHandle   string
		wantNamespace, wantOrchestrator string
		wantProfiles                    []string
	}{
		{
			name:        "kubernetes",
			containerID: "0123456789abcdef", ifName: "eth0",
			args:             RuntimeArgs{PodNamespace: "prod", PodName: "web-0"},
			wantWEP:          "node--1-k8s-web--0-eth0",
			wantVeth:         VethNameForPod("prod", "web-0"),
			wantHandle:       "k8s-pod-network.0123456789abcdef",
			wantNamespace:    "prod",
			wantOrchestrator: "k8s",
			wantProfiles:     []string{"kns.prod"},
		},
		{
			name:        "plain cni",
			containerID: "0123456789abcdef", ifName: "eth0",
			wantWEP:          "node--1-cni-0123456789abcdef-eth0",
			wantVeth:         "cali0123456789a",
			wantHandle:       "k8s-pod-network.0123456789abcdef",
			wantNamespace:    "default",
			wantOrchestrator: "cni",
			wantProfiles:     []string{"k8s-pod-network"},
		},
		{
			name:        "short container ID",
			containerID: "c1", ifName: "net1",
			wantWEP:          "node--1-cni-c1-net1",
			wantVeth:         "calic1",
			wantHandle:       "k8s-pod-network.c1",
			wantNamespace:    "default",
			wantOrchestrator: "cni",
			wantProfiles:     []string{"k8s-pod-network"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := NewIdentity(cfg, tt.containerID, tt.ifName, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			wep, err := id.WEPName()
			if err != nil {
				t.Fatal(err)
			}
			got := []any{wep, id.HostVethName(), id.HandleID(), id.Namespace, id.Orchestrator, id.Profiles()}
			want := []any{tt.wantWEP, tt.wantVeth, tt.wantHandle, tt.wantNamespace, tt.wantOrchestrator, tt.wantProfiles}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if n := id.HostVethName(); len(n) > 15 || !strings.HasPrefix(n, "cali") {
				t.Errorf("host veth name %q: want cali + up to 11 characters", n)
			}
		})
	}
}

// TestVethNameForPodMatchesUpstream pins the Kubernetes interface name:
// "cali" + the first 11 hex digits of sha1("<namespace>.<pod>")
// (sha1("default.nginx") computed with sha1sum).
func TestVethNameForPodMatchesUpstream(t *testing.T) {
	if got, want := VethNameForPod("default", "nginx"), "calic440f455693"; got != want {
		t.Errorf("VethNameForPod(default, nginx) = %q, want %q", got, want)
	}
}

func TestNewIdentityErrors(t *testing.T) {
	cfg := &Config{NetConf: NetConf{Name: "net"}, Node: "node1"}
	tests := []struct {
		name, cid, ifName string
		args              RuntimeArgs
		code              uint
		errHas            string
	}{
		{"bad container ID", "abc/def", "eth0", RuntimeArgs{}, types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID"},
		{"container ID dash", "-abc", "eth0", RuntimeArgs{}, types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID"},
		{"long ifname", "abc", "eth0123456789abc", RuntimeArgs{}, types.ErrInvalidEnvironmentVariables, "CNI_IFNAME"},
		{"bad pod", "abc", "eth0", RuntimeArgs{PodNamespace: "ns", PodName: "Web_0"}, types.ErrInvalidEnvironmentVariables, "K8S_POD_NAME"},
		{"bad namespace", "abc", "eth0", RuntimeArgs{PodNamespace: "a.b", PodName: "web"}, types.ErrInvalidEnvironmentVariables, "K8S_POD_NAMESPACE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIdentity(cfg, tt.cid, tt.ifName, tt.args)
			var te *types.Error
			if !errors.As(err, &te) || te.Code != tt.code || !strings.Contains(te.Msg, tt.errHas) {
				t.Errorf("got %v, want code %d containing %q", err, tt.code, tt.errHas)
			}
		})
	}
	bad := &Config{NetConf: NetConf{Name: "net"}, Node: "-node"}
	_, err := NewIdentity(bad, "abc", "eth0", RuntimeArgs{})
	var te *types.Error
	if !errors.As(err, &te) || te.Code != types.ErrInvalidNetworkConfig || !strings.Contains(te.Msg, "nodename") {
		t.Errorf("bad node name: got %v, want code 7 naming nodename", err)
	}
}
