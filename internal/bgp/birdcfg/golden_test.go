package birdcfg

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCases are the rendered configs checked against
// testdata/<name>.golden: a resource file and the node to render for.
var goldenCases = []struct {
	name, file, node string
}{
	{"mesh-3-nodes", "mesh3.yaml", "node-a"},
	{"mesh-3-nodes-last", "mesh3.yaml", "node-c"},
	{"mesh-dual-stack", "dual.yaml", "node-a"},
	{"mesh-dual-stack-v6-only-node", "dual.yaml", "node-d"},
	{"rr-reflector", "rr.yaml", "rr-1"},
	{"rr-client", "rr.yaml", "node-b"},
	{"peers-edge-node", "peers.yaml", "node-a"},
	{"peers-rack2-node", "peers.yaml", "node-b"},
	{"peers-gateway-reverse", "peers.yaml", "gateway-1"},
	{"as-numbers", "as.yaml", "node-a"},
	{"as-numbers-global-as", "as.yaml", "node-c"},
	{"options", "options.yaml", "node-a"},
	{"options-other-node", "options.yaml", "node-b"},
	{"pools", "pools.yaml", "node-a"},
	{"blocks", "blocks.yaml", "node-a"},
	{"blocks-borrower", "blocks.yaml", "node-b"},
	{"ipv6-only", "ipv6only.yaml", "node-a"},
	{"bad-inputs", "bad.yaml", "node-a"},
	{"bad-inputs-mesh-dup-target", "bad.yaml", "node-c"},
	{"node-missing", "mesh3.yaml", "node-x"},
	{"node-without-bgp", "mesh3.yaml", "node-nobgp"},
}

// testPasswords stands in for the secret store.
func testPasswords(name, key string) (string, error) {
	if name == "bgp-secrets" {
		return "pw-" + key, nil
	}
	return "", errors.New("secret not found")
}

func testOptions() Options {
	return Options{Password: testPasswords, InterfacePrefixes: []string{"cali", "tap"}}
}

// golden renders the result as the golden file holds it: the config, then
// the peer list as comments (so the file is still a valid config).
func golden(res *Result) string {
	var b strings.Builder
	b.WriteString(res.Config)
	fmt.Fprintf(&b, "\n# ---- test: router id %s; peers (Result.Peers) ----\n", res.RouterID)
	for _, p := range res.Peers {
		fmt.Fprintf(&b, "# %s %s port %d, %s, IPv%d, AS %d\n", p.Protocol, p.Address, p.Port, p.Type, p.Family, p.ASN)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			in := loadInput(t, c.file, c.node)
			res := Render(in, testOptions())
			got := golden(res)
			if again := golden(Render(in, testOptions())); again != got {
				t.Fatalf("two renders of the same input differ:\n%s", cmp.Diff(got, again))
			}
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("config differs from %s (-want +got):\n%s", path, d)
			}
			for _, p := range res.Problems {
				if strings.Contains(p, "\n") {
					t.Errorf("problem holds a newline: %q", p)
				}
			}
		})
	}
}

// TestGoldenAcceptedByBIRD runs bird -p on every golden file, as root and
// as an unprivileged user.
func TestGoldenAcceptedByBIRD(t *testing.T) {
	requireBIRD(t)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", c.name+".golden")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			birdParse(t, string(b))
		})
	}
}

func TestProblemsNameResourceAndField(t *testing.T) {
	res := Render(loadInput(t, "bad.yaml", "node-a"), testOptions())
	want := []string{
		`BGPPeer "rack1-tor": peerIP "10.0.0.300" is not an IP address, IPv4:port or [IPv6]:port; peer skipped`,
		`Node "node-b": spec.bgp.ipv4Address "10.99.0.300/24" is not a usable IPv4 address or CIDR; ignored`,
		`Node "node-a": spec.bgp.routeReflectorClusterID "not-an-ip" is not an IPv4 address; node not treated as a route reflector`,
		`BGPPeer "tor-a" and BGPPeer "tor-b" both configure peer 10.0.0.1 port 179, with different settings (AS 65001 vs 65002); using BGPPeer "tor-a"`,
		`BGPPeer "self": peerIP 10.99.0.1 is this node's own address; peer skipped`,
		`BGPPeer "lonely": peerSelector "role == 'nothing'" matches no node; no sessions`,
		`BGPPeer "no-as": asNumber is required with peerIP 10.0.0.7; peer skipped`,
	}
	for _, w := range want {
		found := false
		for _, p := range res.Problems {
			if p == w {
				found = true
			}
		}
		if !found {
			t.Errorf("missing problem %q; got:\n%s", w, strings.Join(res.Problems, "\n"))
		}
	}
	for _, p := range res.Peers {
		if p.Address.String() == "10.0.0.1" && p.ASN != 65001 {
			t.Errorf("conflicting peer rendered with AS %d, want the first resource's 65001", p.ASN)
		}
	}
}

func TestPasswordNeverDropped(t *testing.T) {
	in := loadInput(t, "options.yaml", "node-a")
	for _, opt := range []Options{{}, {Password: func(string, string) (string, error) { return "", errors.New("boom") }}} {
		res := Render(in, opt)
		for _, p := range res.Peers {
			if p.Protocol == "Global_10_99_0_254" || p.Protocol == "Global_10_50_0_2" {
				t.Errorf("peer %s needs a password that cannot be read but was rendered", p.Protocol)
			}
		}
		if strings.Contains(res.Config, "password") && !strings.Contains(res.Config, "pw-") {
			// Only comments may mention passwords.
			for _, l := range strings.Split(res.Config, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "password ") {
					t.Errorf("password line without a resolved password: %q", l)
				}
			}
		}
	}
}
