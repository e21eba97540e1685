package cni

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/google/go-cmp/cmp"
)

func TestLoadConfig(t *testing.T) {
	base := `"cniVersion":"1.1.0","name":"k8s-pod-network","type":"calico","nodename":"node-1"`
	tests := []struct {
		name    string
		in      string
		want    func(c *Config) any // projection compared to wantVal
		wantVal any
		code    uint   // expected CNI error code (0: no error)
		errHas  string // substring of the message
	}{
		{
			name:    "defaults",
			in:      `{` + base + `,"ipam":{"type":"calico-ipam"}}`,
			want:    func(c *Config) any { return []any{c.Node, c.AssignIPv4, c.AssignIPv6, c.LockFile, c.IPAM.Type} },
			wantVal: []any{"node-1", true, false, DefaultLockFile, "calico-ipam"},
		},
		{
			name: "upstream fields",
			in: `{` + base + `,"etcd_endpoints":"http://10.0.0.1:2379, https://10.0.0.2:2379","mtu":1450,
				"ipam":{"type":"calico-ipam","assign_ipv4":"false","assign_ipv6":"true","ipv6_pools":["fd00::/48","my-pool"]},
				"ipam_lock_file":"/tmp/x.lock","log_level":"debug"}`,
			want: func(c *Config) any {
				return []any{c.Datastore.Endpoints, c.AssignIPv4, c.AssignIPv6, c.IPAM.IPv6Pools, c.MTU, c.LockFile}
			},
			wantVal: []any{[]string{"http://10.0.0.1:2379", "https://10.0.0.2:2379"}, false, true, []string{"fd00::/48", "my-pool"}, 1450, "/tmp/x.lock"},
		},
		{
			name:    "JSON booleans accepted",
			in:      `{` + base + `,"ipam":{"type":"calico-ipam","assign_ipv4":false,"assign_ipv6":true}}`,
			want:    func(c *Config) any { return []any{c.AssignIPv4, c.AssignIPv6} },
			wantVal: []any{false, true},
		},
		{
			name:    "wait for the endpoint",
			in:      `{` + base + `,"wait_for_endpoint":"7s","openstack_region":"r1","ipam":{"type":"calico-ipam"}}`,
			want:    func(c *Config) any { return []any{c.Wait, c.OpenStackRegion} },
			wantVal: []any{7 * time.Second, "r1"},
		},
		{
			name:    "datastore socket",
			in:      `{` + base + `,"datastore_socket":"/run/calico/etcd.sock","ipam":{"type":"calico-ipam"}}`,
			want:    func(c *Config) any { return c.Datastore.Endpoints },
			wantVal: []string{"unix:///run/calico/etcd.sock"},
		},
		{
			name:    "valid attachments",
			in:      `{` + base + `,"cni.dev/valid-attachments":[{"containerID":"abc","ifname":"eth0"}]}`,
			want:    func(c *Config) any { return c.ValidAttachments },
			wantVal: []types.GCAttachment{{ContainerID: "abc", IfName: "eth0"}},
		},
		{name: "not JSON", in: `{`, code: types.ErrDecodingFailure, errHas: "not valid JSON"},
		{name: "trailing", in: `{` + base + `} {}`, code: types.ErrDecodingFailure, errHas: "trailing"},
		{name: "no name", in: `{"cniVersion":"1.1.0","type":"calico","nodename":"n"}`, code: types.ErrInvalidNetworkConfig, errHas: "name: required"},
		{name: "bad assign", in: `{` + base + `,"ipam":{"assign_ipv4":"yes"}}`, code: types.ErrInvalidNetworkConfig, errHas: `ipam.assign_ipv4 "yes": want`},
		{name: "pool family", in: `{` + base + `,"ipam":{"ipv4_pools":["fd00::/48"]}}`, code: types.ErrInvalidNetworkConfig, errHas: `ipam.ipv4_pools[0] "fd00::/48": not an IPv4 CIDR`},
		{name: "pool host bits", in: `{` + base + `,"ipam":{"ipv4_pools":["10.0.0.1/24"]}}`, code: types.ErrInvalidNetworkConfig, errHas: "did you mean 10.0.0.0/24"},
		{name: "pool not CIDR", in: `{` + base + `,"ipam":{"ipv6_pools":["zz/64"]}}`, code: types.ErrInvalidNetworkConfig, errHas: "ipam.ipv6_pools[0]"},
		{name: "endpoint not URL", in: `{` + base + `,"etcd_endpoints":"10.0.0.1:2379"}`, code: types.ErrInvalidNetworkConfig, errHas: "etcd_endpoints"},
		{name: "relative socket", in: `{` + base + `,"datastore_socket":"etcd.sock"}`, code: types.ErrInvalidNetworkConfig, errHas: "datastore_socket"},
		{name: "datastore type", in: `{` + base + `,"datastore_type":"kubernetes"}`, code: types.ErrInvalidNetworkConfig, errHas: "datastore_type"},
		{name: "mtu", in: `{` + base + `,"mtu":20}`, code: types.ErrInvalidNetworkConfig, errHas: "mtu 20"},
		{name: "wait", in: `{` + base + `,"wait_for_endpoint":"soon"}`, code: types.ErrInvalidNetworkConfig, errHas: "wait_for_endpoint \"soon\""},
		{name: "negative wait", in: `{` + base + `,"wait_for_endpoint":"-1s"}`, code: types.ErrInvalidNetworkConfig, errHas: "wait_for_endpoint"},
		{name: "half TLS", in: `{` + base + `,"etcd_cert_file":"/c.pem"}`, code: types.ErrInvalidNetworkConfig, errHas: "etcd_key_file"},
		{name: "nodename file missing", in: `{"cniVersion":"1.1.0","name":"n","nodename_file":"/nonexistent/x"}`, code: types.ErrInvalidNetworkConfig, errHas: "nodename_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig([]byte(tt.in))
			if tt.code != 0 {
				var te *types.Error
				if !errors.As(err, &te) {
					t.Fatalf("LoadConfig: got %v, want a CNI error with code %d", err, tt.code)
				}
				if te.Code != tt.code || !strings.Contains(te.Msg, tt.errHas) {
					t.Fatalf("LoadConfig: got code %d %q, want code %d containing %q", te.Code, te.Msg, tt.code, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if diff := cmp.Diff(tt.wantVal, tt.want(c)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestLoadConfigNodenameFile(t *testing.T) {
	f := t.TempDir() + "/nodename"
	if err := os.WriteFile(f, []byte("node-from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig([]byte(`{"cniVersion":"1.1.0","name":"n","nodename_file":"` + f + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node != "node-from-file" {
		t.Errorf("Node = %q, want node-from-file", c.Node)
	}
}

// FuzzLoadConfig: no input makes LoadConfig panic, and every error is a
// CNI error with a spec code.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"k8s-pod-network","type":"calico","nodename":"n","ipam":{"type":"calico-ipam","assign_ipv6":"true","ipv4_pools":["10.0.0.0/16"]}}`))
	f.Add([]byte(`{"name":"x","etcd_endpoints":"unix:///a,http://b:1","mtu":9000}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := LoadConfig(in)
		if err == nil {
			return
		}
		var te *types.Error
		if !errors.As(err, &te) || (te.Code != types.ErrDecodingFailure && te.Code != types.ErrInvalidNetworkConfig) {
			t.Fatalf("LoadConfig(%q): %v is not a CNI config error", in, err)
		}
	})
}

func TestValidAttachments(t *testing.T) {
	base := `"cniVersion":"1.1.0","name":"n","nodename":"n1"`
	for _, tt := range []struct {
		name  string
		in    string
		given bool
		n     int
	}{
		{"absent", `{` + base + `}`, false, 0},
		{"empty", `{` + base + `,"cni.dev/valid-attachments":[]}`, true, 0},
		{"legacy key", `{` + base + `,"cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}`, true, 1},
		{"both", `{` + base + `,"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"},{"containerID":"b","ifname":"eth0"}],"cni.dev/attachments":[]}`, true, 2},
	} {
		c, err := LoadConfig([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		m, given := c.validAttachments()
		if given != tt.given || len(m) != tt.n {
			t.Errorf("%s: given=%v n=%d, want given=%v n=%d", tt.name, given, len(m), tt.given, tt.n)
		}
	}
}
