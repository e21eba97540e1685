package birdctl

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/bgp/birdctl/birdtest"
)

// waitBGP polls BIRD's protocols until cond holds for the protocol
// called name, and returns it.
func waitBGP(t *testing.T, c *Client, name string, timeout time.Duration, cond func(Protocol) bool) Protocol {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []Protocol
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ps, err := c.Protocols(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		last = ps
		for _, p := range ps {
			if p.Name == name && cond(p) {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("protocol %s: condition not met after %v; protocols: %+v", name, timeout, last)
	return Protocol{}
}

func established(p Protocol) bool { return p.BGPState == "Established" && p.State == "up" }

// TestPrivilegedBIRDPair runs two real BIRDs in namespaces of their own:
// the iBGP session between them establishes, a session to an absent peer
// does not, a changed config is applied and a broken one is rejected with
// BIRD's message while the old config keeps running.
func TestPrivilegedBIRDPair(t *testing.T) {
	birdtest.SkipUnlessPrivileged(t)
	absent := `protocol bgp Node_10_123_0_9 {
  local 10.123.0.1 as 64512;
  neighbor 10.123.0.9 as 64513;
  connect retry time 1;
  ipv4 { import all; export none; };
}
`
	pair := birdtest.StartPair(t, [2]string{birdtest.MeshConfig(0, absent), birdtest.MeshConfig(1, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cs [2]*Client
	for i := range cs {
		c, err := Dial(ctx, pair.Socket[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs[i] = c
	}

	for i, name := range []string{"Mesh_10_123_0_2", "Mesh_10_123_0_1"} {
		p := waitBGP(t, cs[i], name, 30*time.Second, established)
		peer := birdtest.PairAddrs[1-i]
		if p.Neighbor != peer || p.NeighborAS != birdtest.PairAS || p.LocalAS != birdtest.PairAS || p.SourceAddr != birdtest.PairAddrs[i] {
			t.Errorf("bird %d: %s = %+v, want neighbor %s AS %d", i, name, p, peer, birdtest.PairAS)
		}
		if _, _, ok := p.Routes(); !ok {
			t.Errorf("bird %d: established %s has no route counts", i, name)
		}
	}
	ps, err := cs[0].Protocols(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == "Node_10_123_0_9" && (p.BGPState == "Established" || p.State == "up" || p.NeighborAS != 64513) {
			t.Errorf("session to an absent peer: %+v", p)
		}
	}
	st, err := cs[0].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.RouterID != birdtest.PairAddrs[0] || !strings.HasPrefix(st.Version, "2.") || st.Message != "Daemon is up and running" {
		t.Errorf("status = %+v", st)
	}
	if _, ok := st.Uptime(); !ok {
		t.Errorf("no uptime in %+v", st)
	}

	// A changed config: the absent peer is replaced by another one.
	changed := pair.Dir + "/changed.conf"
	write(t, changed, birdtest.MeshConfig(0, "protocol bgp Node_10_123_0_8 { local 10.123.0.1 as 64512; neighbor 10.123.0.8 as 64512; ipv4 { import all; export none; }; }\n"))
	if err := cs[0].CheckConfig(ctx, changed); err != nil {
		t.Errorf("CheckConfig(changed): %v", err)
	}
	if err := cs[0].Configure(ctx, changed); err != nil {
		t.Fatalf("Configure(changed): %v", err)
	}
	waitBGP(t, cs[0], "Node_10_123_0_8", 10*time.Second, func(p Protocol) bool { return p.NeighborAS == 64512 })
	ps, _ = cs[0].Protocols(ctx)
	for _, p := range ps {
		if p.Name == "Node_10_123_0_9" {
			t.Errorf("removed protocol still there after Configure: %+v", p)
		}
	}

	// A broken config: rejected with BIRD's file:line message; the
	// running config and the session stay.
	broken := pair.Dir + "/broken.conf"
	write(t, broken, "router id 10.123.0.1;\nprotocol bgp x {\n  nonsense;\n}\n")
	before, _ := cs[0].Status(ctx)
	err = cs[0].Configure(ctx, broken)
	var re *ReplyError
	if !errors.As(err, &re) || re.Code != 8002 || !strings.Contains(re.Text, broken+":3:") {
		t.Fatalf("Configure(broken) = %v, want reply 8002 naming %s:3", err, broken)
	}
	t.Logf("broken config: %v", err)
	if err := cs[0].CheckConfig(ctx, broken); err == nil {
		t.Error("CheckConfig(broken): no error")
	}
	after, err := cs[0].Status(ctx)
	if err != nil {
		t.Fatalf("Status after a rejected config: %v", err)
	}
	if after.LastReconfiguration != before.LastReconfiguration {
		t.Errorf("last reconfiguration moved from %s to %s on a rejected config", before.LastReconfiguration, after.LastReconfiguration)
	}
	waitBGP(t, cs[0], "Mesh_10_123_0_2", time.Second, established)
	waitBGP(t, cs[0], "Node_10_123_0_8", time.Second, func(Protocol) bool { return true })
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
