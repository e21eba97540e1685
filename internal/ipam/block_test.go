package ipam

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	b4 := netip.MustParsePrefix("10.0.0.64/26")
	b6 := netip.MustParsePrefix("fd00::40/122")
	for _, tc := range []struct{ got, want string }{
		{BlockKey(b4), "/calico/ipam/v2/assignment/ipv4/block/10.0.0.64-26"},
		{BlockKey(b6), "/calico/ipam/v2/assignment/ipv6/block/fd00::40-122"},
		{AffinityKey("node1", b4), "/calico/ipam/v2/host/node1/ipv4/block/10.0.0.64-26"},
		{HandleKey("k8s-pod-network.abc"), "/calico/ipam/v2/handle/k8s-pod-network.abc"},
	} {
		if tc.got != tc.want {
			t.Errorf("key %q, want %q", tc.got, tc.want)
		}
	}
	if p, ok := parseBlockKey(BlockKey(b6)); !ok || p != b6 {
		t.Errorf("parseBlockKey: %v %v", p, ok)
	}
	if h, p, ok := parseAffinityKey(AffinityKey("node1", b4)); !ok || h != "node1" || p != b4 {
		t.Errorf("parseAffinityKey: %q %v %v", h, p, ok)
	}
	for _, bad := range []string{"10.0.0.1-26", "10.0.0.0", "x-26"} {
		if _, err := parseCIDRKey(bad); err == nil {
			t.Errorf("parseCIDRKey(%q): no error", bad)
		}
	}
}

func TestOffsets(t *testing.T) {
	for _, tc := range []struct {
		a    string
		n    int
		want string
	}{
		{"10.0.0.0", 63, "10.0.0.63"},
		{"10.0.0.192", 64, "10.0.1.0"},
		{"10.255.255.255", 1, "11.0.0.0"},
		{"fd00::ffc0", 0x40, "fd00::1:0"},
	} {
		a := netip.MustParseAddr(tc.a)
		got := addOffset(a, tc.n)
		if got.String() != tc.want {
			t.Errorf("%s + %d = %s, want %s", tc.a, tc.n, got, tc.want)
		}
		if o := offset(a, got); o != tc.n {
			t.Errorf("offset(%s, %s) = %d, want %d", a, got, o, tc.n)
		}
	}
	// Block starts in an IPv6 pool: beyond 64 bits.
	got := addBig(netip.MustParseAddr("fd00::"), 1<<58, 64)
	if want := netip.MustParseAddr("fd00:0:0:1::"); got != want {
		t.Errorf("addBig = %s, want %s", got, want)
	}
	if got := addBig(netip.MustParseAddr("10.0.0.0"), 3, 64); got != netip.MustParseAddr("10.0.0.192") {
		t.Errorf("addBig v4 = %s", got)
	}
}

// TestBlockAssignRelease: oldest free first, identical attributes
// shared, released ordinals go last, unused attributes compacted.
func TestBlockAssignRelease(t *testing.T) {
	b := newBlock(netip.MustParsePrefix("10.0.0.0/30"), "node1", time.Unix(0, 100))
	h1, h2 := "h1", "h2"
	a1 := Attribute{HandleID: &h1, Secondary: map[string]string{"pod": "a"}}
	a2 := Attribute{HandleID: &h2}
	got := b.assign(2, a1, nil)
	if want := addrs("10.0.0.0", "10.0.0.1"); !slices.Equal(got, want) {
		t.Fatalf("assign: %v, want %v", got, want)
	}
	reserved := func(a netip.Addr) bool { return a == netip.MustParseAddr("10.0.0.2") }
	if got := b.assign(5, a2, reserved); !slices.Equal(got, addrs("10.0.0.3")) {
		t.Fatalf("assign around the reserved address: %v", got)
	}
	if len(b.Attributes) != 2 || b.InUse() != 3 || b.freeCount(reserved) != 0 || b.freeCount(nil) != 1 {
		t.Fatalf("attributes %d, in use %d", len(b.Attributes), b.InUse())
	}
	freed := b.release(addrs("10.0.0.0", "10.0.0.1", "10.0.0.2"))
	if freed["h1"] != 2 || len(freed) != 1 {
		t.Errorf("release freed %v", freed)
	}
	if len(b.Attributes) != 1 || *b.Allocations[3] != 0 || b.Attributes[0].handle() != "h2" {
		t.Errorf("attributes not compacted: %+v, allocation of .3 -> %d", b.Attributes, *b.Allocations[3])
	}
	if want := []int{2, 0, 1}; !slices.Equal(b.Unallocated, want) {
		t.Errorf("unallocated %v, want %v (released last)", b.Unallocated, want)
	}
	if ips := b.releaseHandle("h2"); !slices.Equal(ips, addrs("10.0.0.3")) || !b.Empty() {
		t.Errorf("releaseHandle: %v, empty %v", ips, b.Empty())
	}
	v, err := b.encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeBlock(BlockKey(b.cidr), v)
	if err != nil {
		t.Fatalf("decode what was encoded: %v", err)
	}
	if !back.AffineTo("node1") || back.Host() != "node1" {
		t.Errorf("affinity %v", back.Affinity)
	}
}

// TestDecodeUpstreamBlock reads the wire format's example block.
func TestDecodeUpstreamBlock(t *testing.T) {
	const v = `{"cidr":"10.0.0.0/30","affinity":"host:node1","allocations":[0,null,null,null],"unallocated":[1,2,3],
 "attributes":[{"handle_id":"k8s-pod-network.abc","secondary":{"node":"node1","namespace":"default","pod":"web"}}],
 "sequenceNumber":1700000000000000001,"sequenceNumberForAllocation":{"0":1700000000000000000},"deleted":false}`
	b, err := decodeBlock("/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-30", []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	alloc := b.Allocated()
	a, ok := alloc[netip.MustParseAddr("10.0.0.0")]
	if !ok || len(alloc) != 1 || a.handle() != "k8s-pod-network.abc" || a.Secondary["pod"] != "web" {
		t.Errorf("allocated %v", alloc)
	}
	// Written back, the keys upstream reads are all there.
	out, _ := b.encode()
	var m map[string]any
	json.Unmarshal(out, &m)
	for _, k := range []string{"cidr", "affinity", "allocations", "unallocated", "attributes", "sequenceNumber", "sequenceNumberForAllocation", "deleted"} {
		if _, ok := m[k]; !ok {
			t.Errorf("encoded block lacks %q: %s", k, out)
		}
	}
	// The legacy hostAffinity field reads as an affinity.
	legacy := strings.Replace(v, `"affinity":"host:node1"`, `"affinity":null,"hostAffinity":"node2"`, 1)
	if b, err := decodeBlock("", []byte(legacy)); err != nil || !b.AffineTo("node2") {
		t.Errorf("legacy hostAffinity: %v %v", err, b)
	}
}

// TestDecodeBlockRejectsInconsistent: a block whose arrays disagree is
// an error, never written back.
func TestDecodeBlockRejectsInconsistent(t *testing.T) {
	for name, v := range map[string]string{
		"wrong length":       `{"cidr":"10.0.0.0/30","allocations":[null,null],"unallocated":[0,1],"attributes":[]}`,
		"both":               `{"cidr":"10.0.0.0/30","allocations":[0,null,null,null],"unallocated":[0,1,2,3],"attributes":[{}]}`,
		"neither":            `{"cidr":"10.0.0.0/30","allocations":[null,null,null,null],"unallocated":[1,2,3],"attributes":[]}`,
		"bad attribute":      `{"cidr":"10.0.0.0/30","allocations":[4,null,null,null],"unallocated":[1,2,3],"attributes":[]}`,
		"listed twice":       `{"cidr":"10.0.0.0/30","allocations":[null,null,null,null],"unallocated":[0,1,2,3,3],"attributes":[]}`,
		"not a network":      `{"cidr":"10.0.0.1/30","allocations":[null,null,null,null],"unallocated":[0,1,2,3],"attributes":[]}`,
		"too big":            `{"cidr":"10.0.0.0/8","allocations":[],"unallocated":[],"attributes":[]}`,
		"not json":           `{"cidr":`,
		"key and cidr apart": `{"cidr":"10.0.0.4/30","allocations":[null,null,null,null],"unallocated":[0,1,2,3],"attributes":[]}`,
	} {
		if _, err := decodeBlock("/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-30", []byte(v)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestConfigKeepsUnknownFields(t *testing.T) {
	stored := []byte(`{"strict_affinity":false,"auto_allocate_blocks":true,"ipCooldownSeconds":30}`)
	c, raw, err := decodeConfig(stored)
	if err != nil || c != DefaultConfig() {
		t.Fatalf("decode: %+v %v", c, err)
	}
	c.StrictAffinity, c.MaxBlocksPerHost = true, 4
	var m map[string]any
	json.Unmarshal(encodeConfig(c, raw), &m)
	if m["strict_affinity"] != true || m["auto_allocate_blocks"] != true || m["maxBlocksPerHost"] != float64(4) || m["ipCooldownSeconds"] != float64(30) {
		t.Errorf("encoded %v", m)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("strict affinity and auto-allocation both off: valid")
	}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}
