package calicoctl_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/bgp/birdctl"
	"github.com/gocalico/calico/internal/bgp/birdctl/birdtest"
	"github.com/gocalico/calico/internal/calicoctl/ctltest"
)

// replayBIRD serves a fake BIRD control socket answering `show protocols
// all` with testdata/<file> (captured from BIRD 2.0.12).
func replayBIRD(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return birdtest.Replay(t, map[string]string{"show protocols all": string(b)})
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
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
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// TestNodeStatusGolden: the table and JSON of `node status` from captured
// BIRD output (an established mesh peer, node-specific and global peers
// that cannot connect, a disabled one, non-BGP protocols left out).
func TestNodeStatusGolden(t *testing.T) {
	var ctl ctltest.Runner
	for _, tt := range []struct {
		golden, capture string
		args            []string
	}{
		{"node-status-table", "bird-show-protocols-all.txt", nil},
		{"node-status-isolong", "bird-show-protocols-all-isolong.txt", nil},
		{"node-status-json", "bird-show-protocols-all-isolong.txt", []string{"-o", "json"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			sock := replayBIRD(t, tt.capture)
			args := append([]string{"node", "status", "--bird-socket", sock}, tt.args...)
			checkGolden(t, tt.golden, ctl.MustRun(t, "", args...).Stdout)
		})
	}
}

func TestNodeStatusNoPeers(t *testing.T) {
	sock := birdtest.Replay(t, map[string]string{"show protocols all": "2002-Name       Proto      Table      State  Since         Info\n" +
		"1002-device1    Device     ---        up     20:02:58.622  \n1006-\n0000 \n"})
	var ctl ctltest.Runner
	got := ctl.MustRun(t, "", "node", "status", "--bird-socket", sock).Stdout
	want := "Calico process is running.\n\nIPv4 BGP status\nNo IPv4 peers found.\n\nIPv6 BGP status\nNo IPv6 peers found.\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestNodeStatusNotRunning: no socket, or a BIRD that never answers,
// means "not running", an error naming the socket and exit status 1.
func TestNodeStatusNotRunning(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "bird.ctl")
	var ctl ctltest.Runner
	res := ctl.Run(t, "", "node", "status", "--bird-socket", missing)
	if res.Code != 1 || res.Stdout != "Calico process is not running.\n" || !strings.Contains(res.Stderr, missing) {
		t.Errorf("missing socket: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}

	t.Setenv("CALICO_BIRD_SOCKET", missing)
	res = ctl.Run(t, "", "node", "status", "-o", "json")
	var got map[string]any
	if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
		t.Fatalf("-o json output %q: %v", res.Stdout, err)
	}
	if res.Code != 1 || got["running"] != false || !strings.Contains(got["error"].(string), missing) {
		t.Errorf("-o json, CALICO_BIRD_SOCKET: exit %d, output %s", res.Code, res.Stdout)
	}

	// A socket that accepts but never answers a command.
	mute := muteBIRD(t)
	res = ctl.Run(t, "", "node", "status", "--bird-socket", mute, "--request-timeout", "200ms")
	if res.Code != 1 || res.Stdout != "Calico process is not running.\n" || !strings.Contains(res.Stderr, mute) {
		t.Errorf("mute BIRD: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}

	res = ctl.Run(t, "", "node", "status", "--bird-socket", missing, "-o", "yaml")
	if res.Code != 1 || !strings.Contains(res.Stderr, `unknown output format "yaml"`) {
		t.Errorf("-o yaml: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// TestPrivilegedNodeStatus: `node status` against two real BIRDs whose
// mesh session establishes, plus a node-specific peer that is absent.
func TestPrivilegedNodeStatus(t *testing.T) {
	birdtest.SkipUnlessPrivileged(t)
	absent := "protocol bgp Node_10_123_0_9 { local 10.123.0.1 as 64512; neighbor 10.123.0.9 as 64513; connect retry time 1; ipv4 { import all; export none; }; }\n"
	pair := birdtest.StartPair(t, [2]string{birdtest.MeshConfig(0, absent), birdtest.MeshConfig(1, "")})

	// Wait for the session.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if meshUp(t, pair.Socket[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mesh session not established after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ctl ctltest.Runner
	out := ctl.MustRun(t, "", "node", "status", "--bird-socket", pair.Socket[0]).Stdout
	for _, want := range []string{
		"Calico process is running.\n\nIPv4 BGP status\n",
		"| PEER ADDRESS |     PEER TYPE     | STATE |",
		"| 10.123.0.2   | node-to-node mesh | up    | ",
		"| 10.123.0.9   | node specific     | start | ",
		"\nIPv6 BGP status\nNo IPv6 peers found.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(strings.SplitN(out, "10.123.0.2", 2)[1], "| Established ") {
		t.Errorf("mesh peer not Established:\n%s", out)
	}
	t.Logf("calicoctl node status:\n%s", out)
}

// muteBIRD serves a control socket that sends BIRD's welcome and never
// answers a command.
func muteBIRD(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "mute.ctl")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			c.Write([]byte(birdtest.Welcome))
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return sock
}

func meshUp(t *testing.T, sock string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := birdctl.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ps, err := c.Protocols(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == "Mesh_10_123_0_2" && p.BGPState == "Established" {
			return true
		}
	}
	return false
}
