package calc

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/datastore/syncer"
)

func affinityKey(node, cidr string) string {
	p := netip.MustParsePrefix(cidr)
	fam := "ipv4"
	if p.Addr().Is6() {
		fam = "ipv6"
	}
	return AffinityPrefix(node) + fam + "/block/" + strings.Replace(cidr, "/", "-", 1)
}

// affinity is the update of node's affinity to block cidr, decoded as
// the agent's syncer decodes it.
func affinity(node, cidr, state string) syncer.Update {
	k := affinityKey(node, cidr)
	a, err := DecodeAffinity(k, []byte(`{"state":"`+state+`"}`))
	if err != nil {
		panic(err)
	}
	return syncer.Update{Type: syncer.UpdateNew, Key: k, Value: a}
}

// TestBlackholes: a blackhole for each confirmed block of this node
// inside a pool, appearing and disappearing with affinities, pools and
// IPv6 support; Take hands over the whole state when they change.
func TestBlackholes(t *testing.T) {
	c := New(node)
	c.OnUpdates([]syncer.Update{put(pool("p", "10.65.0.0/16")), put(pool("p6", "fd00:65::/48")), put(wep("ns", "a", "cali1", 0, "10.65.0.5/32"))})
	if full, _ := c.Take(); full == nil || full.Blackholes != nil {
		t.Fatalf("first Take: %+v", full)
	}
	steps := []struct {
		name    string
		updates []syncer.Update
		changed bool
		want    []netip.Prefix // nil: no full state expected
	}{
		{"pending claim", []syncer.Update{affinity(node, "10.65.0.0/26", "pending")}, false, nil},
		{"confirmed", []syncer.Update{affinity(node, "10.65.0.0/26", AffinityConfirmed)}, true, pfx("10.65.0.0/26")},
		{"another node's block", []syncer.Update{affinity("node2", "10.65.1.0/26", AffinityConfirmed)}, false, nil},
		{"a prefix of another node's name", []syncer.Update{affinity(node+"0", "10.65.2.0/26", AffinityConfirmed)}, false, nil},
		{"outside every pool", []syncer.Update{affinity(node, "10.99.0.0/26", AffinityConfirmed)}, true, nil},
		{"its pool arrives", []syncer.Update{put(pool("p99", "10.99.0.0/16"))}, true, pfx("10.65.0.0/26", "10.99.0.0/26")},
		{"IPv6 block, raw value", []syncer.Update{{Type: syncer.UpdateNew, Key: affinityKey(node, "fd00:65::/122"), Value: []byte(`{"state":"confirmed"}`)}}, true, pfx("10.65.0.0/26", "10.99.0.0/26", "fd00:65::/122")},
		{"IPv6 off", []syncer.Update{put(felix("default", `{"ipv6Support":false}`))}, true, pfx("10.65.0.0/26", "10.99.0.0/26")},
		{"pool gone", []syncer.Update{del(put(pool("p99", "10.99.0.0/16")).Key)}, true, pfx("10.65.0.0/26")},
		{"pending deletion", []syncer.Update{affinity(node, "10.65.0.0/26", "pendingDeletion")}, true, []netip.Prefix{}},
		{"deleted", []syncer.Update{del(affinityKey(node, "10.99.0.0/26")), del(affinityKey(node, "10.65.0.0/26"))}, true, nil},
	}
	for _, st := range steps {
		res := c.OnUpdates(st.updates)
		if res.Changed != st.changed {
			t.Errorf("%s: Changed = %v, want %v", st.name, res.Changed, st.changed)
		}
		full, changes := c.Take()
		if len(changes) != 0 {
			t.Errorf("%s: endpoint changes %+v", st.name, changes)
		}
		switch {
		case st.want == nil && full != nil:
			t.Errorf("%s: unexpected full state with blackholes %v", st.name, full.Blackholes)
		case st.want != nil && full == nil:
			t.Errorf("%s: no full state; want blackholes %v", st.name, st.want)
		case st.want != nil:
			want := st.want
			if len(want) == 0 {
				want = nil
			}
			if d := cmp.Diff(want, full.Blackholes, cmpAddrs...); d != "" {
				t.Errorf("%s: blackholes (-want +got):\n%s", st.name, d)
			}
			if len(full.Endpoints) != 1 {
				t.Errorf("%s: full state without its endpoint: %+v", st.name, full.Endpoints)
			}
		}
	}
	if got := c.HostState().Blackholes; got != nil {
		t.Errorf("at the end: blackholes %v", got)
	}
}

func TestDecodeAffinity(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       *Affinity
	}{
		{key: "/calico/ipam/v2/host/node1/ipv4/block/10.65.0.0-26", value: `{"state":"pending","deleted":false}`,
			want: &Affinity{Node: "node1", Block: netip.MustParsePrefix("10.65.0.0/26"), State: "pending"}},
		{key: "/calico/ipam/v2/host/node1/ipv6/block/fd00:65::40-122", value: ``,
			want: &Affinity{Node: "node1", Block: netip.MustParsePrefix("fd00:65::40/122"), State: AffinityConfirmed}},
		{key: "/calico/ipam/v2/host/node1/ipv4/block/10.65.0.0-26", value: `{"state":"confirmed","deleted":true}`,
			want: &Affinity{Node: "node1", Block: netip.MustParsePrefix("10.65.0.0/26")}},
		{key: "/calico/ipam/v2/host/node1/ipv4/block/10.65.0.0-26", value: `[`},
		{key: "/calico/ipam/v2/host/node1/ipv6/block/10.65.0.0-26"},
		{key: "/calico/ipam/v2/host/node1/ipv4/block/10.65.0.1-26"},
		{key: "/calico/ipam/v2/host/node1/ipv4/block/10.65.0.0"},
		{key: "/calico/ipam/v2/host/node1/ipv4/block/10.65.0.0-26/x"},
		{key: "/calico/ipam/v2/host//ipv4/block/10.65.0.0-26"},
	} {
		got, err := DecodeAffinity(c.key, []byte(c.value))
		if (err != nil) != (c.want == nil) {
			t.Errorf("%s %q: error %v", c.key, c.value, err)
			continue
		}
		if d := cmp.Diff(c.want, got, cmpAddrs...); d != "" {
			t.Errorf("%s %q (-want +got):\n%s", c.key, c.value, d)
		}
	}
}
