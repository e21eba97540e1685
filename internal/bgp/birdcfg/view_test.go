package birdcfg

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

func del(t testing.TB, r v3.Resource) syncer.Update {
	u := put(t, r)
	return syncer.Update{Type: syncer.UpdateDeleted, Key: u.Key}
}

// noise returns updates that leave r as it was at the end: a different
// value first (and for some, a delete in between).
func noise(t testing.TB, rng *rand.Rand, r v3.Resource) []syncer.Update {
	other := r.DeepCopyResource()
	switch o := other.(type) {
	case *v3.Node:
		o.Metadata.Labels = map[string]string{"noise": "1"}
		if o.Spec.BGP != nil {
			o.Spec.BGP.IPv4Address = "10.1.2.3/24"
		}
	case *v3.BGPPeer:
		o.Spec.ASNumber++
	case *v3.IPPool:
		o.Spec.DisableBGPExport = !o.Spec.DisableBGPExport
	case *v3.BGPConfiguration:
		o.Spec.ListenPort = 4242
	}
	us := []syncer.Update{put(t, other)}
	if rng.IntN(2) == 0 {
		us = append(us, del(t, r))
	}
	return us
}

// TestViewAnyOrder: the same resources delivered in any order, in any
// batches, with changes and deletes on the way, give the same Input and
// config as delivering them at once.
func TestViewAnyOrder(t *testing.T) {
	for _, file := range []string{"mesh3.yaml", "dual.yaml", "rr.yaml", "peers.yaml", "as.yaml", "options.yaml", "pools.yaml", "bad.yaml", "blocks.yaml"} {
		t.Run(file, func(t *testing.T) {
			rs := loadResources(t, file)
			node := "node-a"
			want := loadInput(t, file, node)
			wantCfg := Render(want, testOptions()).Config
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 7))
				// A stray resource that comes and goes.
				stray := v3.NewBGPPeer()
				stray.Metadata.Name = "stray"
				stray.Spec.PeerIP = "10.9.9.9"
				stray.Spec.ASNumber = 65099
				seqs := [][]syncer.Update{{put(t, stray), del(t, stray)}}
				for _, r := range rs {
					var seq []syncer.Update
					if rng.IntN(3) == 0 {
						seq = noise(t, rng, r)
					}
					seqs = append(seqs, append(seq, put(t, r)))
				}
				for _, u := range loadAffinities(t, file) {
					var seq []syncer.Update
					switch rng.IntN(3) {
					case 0: // claimed, then confirmed
						a := *u.Value.(*Affinity)
						a.State = "pending"
						seq = append(seq, syncer.Update{Type: syncer.UpdateNew, Key: u.Key, Value: &a})
					case 1: // gone for a while
						seq = append(seq, u, syncer.Update{Type: syncer.UpdateDeleted, Key: u.Key})
					}
					seqs = append(seqs, append(seq, u))
				}
				v := NewView()
				var batch []syncer.Update
				for len(seqs) > 0 {
					i := rng.IntN(len(seqs))
					batch = append(batch, seqs[i][0])
					if seqs[i] = seqs[i][1:]; len(seqs[i]) == 0 {
						seqs = append(seqs[:i], seqs[i+1:]...)
					}
					if rng.IntN(3) == 0 {
						v.OnUpdates(batch)
						batch = nil
					}
				}
				v.OnUpdates(batch)
				got := v.Input(node)
				if d := cmp.Diff(want, got, cmpPrefix); d != "" {
					t.Fatalf("seed %d: Input differs (-want +got):\n%s", seed, d)
				}
				if cfg := Render(got, testOptions()).Config; cfg != wantCfg {
					t.Fatalf("seed %d: config differs:\n%s", seed, cmp.Diff(wantCfg, cfg))
				}
			}
		})
	}
}

func TestViewChanged(t *testing.T) {
	rs := loadResources(t, "peers.yaml")
	node := rs[0].(*v3.Node)
	v := NewView()
	if !v.OnUpdates([]syncer.Update{put(t, node)}) {
		t.Error("new node: want changed")
	}
	same := node.DeepCopy()
	same.Metadata.ResourceVersion = "99"
	if v.OnUpdates([]syncer.Update{put(t, same)}) {
		t.Error("only resourceVersion changed: want unchanged")
	}
	moved := node.DeepCopy()
	moved.Spec.BGP.IPv4Address = "10.99.0.9/24"
	if !v.OnUpdates([]syncer.Update{put(t, moved)}) {
		t.Error("address changed: want changed")
	}
	if v.OnUpdates([]syncer.Update{del(t, rs[1])}) {
		t.Error("delete of an unknown node: want unchanged")
	}
	other := v3.NewFelixConfiguration()
	other.Metadata.Name = "default"
	if v.OnUpdates([]syncer.Update{put(t, other)}) {
		t.Error("other kind: want unchanged")
	}
	if v.OnUpdates([]syncer.Update{{Type: syncer.UpdateNew, Key: "/calico/ipam/v2/config", Value: 1}}) {
		t.Error("not a resource key: want unchanged")
	}
	// A value of the wrong type counts as a delete.
	u := put(t, node)
	u.Value = "garbage"
	if !v.OnUpdates([]syncer.Update{u}) || len(v.Input("node-a").Nodes) != 0 {
		t.Error("wrong value type: want the node removed")
	}
}

func TestInputSharesNothing(t *testing.T) {
	v := NewView()
	var us []syncer.Update
	for _, r := range loadResources(t, "options.yaml") {
		us = append(us, put(t, r))
	}
	v.OnUpdates(us)
	a := v.Input("node-a")
	want := Render(v.Input("node-a"), testOptions()).Config
	a.Nodes[0].Spec.BGP.IPv4Address = "10.1.1.1/24"
	a.Peers[0].Spec.ASNumber = 1
	a.PerNode.ListenPort = 1
	a.Global.ListenPort = 2
	a.NodeConfigs["node-a"].ListenPort = 3
	a.Pools[0].Spec.CIDR = "10.1.0.0/16"
	if got := Render(v.Input("node-a"), testOptions()).Config; got != want {
		t.Errorf("changing an Input changed the View:\n%s", cmp.Diff(want, got))
	}
}

// cmpPrefix compares netip.Prefix values (unexported fields) for go-cmp.
var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// TestViewAffinities: only confirmed affinities count, for the node they
// name; values may come decoded or raw.
func TestViewAffinities(t *testing.T) {
	key := func(node, cidr string) string {
		return AffinityPrefix(node) + "ipv4/block/" + strings.Replace(cidr, "/", "-", 1)
	}
	upd := func(k, state string) syncer.Update {
		node, block, err := parseAffinityKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return syncer.Update{Type: syncer.UpdateNew, Key: k, Value: &Affinity{Node: node, Block: block, State: state}}
	}
	blocks := func(v *View, node string) []string {
		var out []string
		for _, b := range v.Input(node).Blocks {
			out = append(out, b.String())
		}
		return out
	}
	v := NewView()
	steps := []struct {
		name    string
		u       syncer.Update
		changed bool
		want    []string // node-a's blocks after the step
	}{
		{"pending", upd(key("node-a", "10.65.0.64/26"), "pending"), false, nil},
		{"confirmed", upd(key("node-a", "10.65.0.64/26"), AffinityConfirmed), true, []string{"10.65.0.64/26"}},
		{"raw empty value reads as confirmed", syncer.Update{Type: syncer.UpdateNew, Key: key("node-a", "10.65.0.0/26"), Value: []byte{}}, true, []string{"10.65.0.0/26", "10.65.0.64/26"}},
		{"same again", upd(key("node-a", "10.65.0.0/26"), AffinityConfirmed), false, []string{"10.65.0.0/26", "10.65.0.64/26"}},
		{"other node", upd(key("node-b", "10.65.1.0/26"), AffinityConfirmed), true, []string{"10.65.0.0/26", "10.65.0.64/26"}},
		{"pending deletion", upd(key("node-a", "10.65.0.64/26"), "pendingDeletion"), true, []string{"10.65.0.0/26"}},
		{"raw deleted", syncer.Update{Type: syncer.UpdateNew, Key: key("node-a", "10.65.0.0/26"), Value: []byte(`{"state":"confirmed","deleted":true}`)}, true, nil},
		{"back", upd(key("node-a", "10.65.0.0/26"), AffinityConfirmed), true, []string{"10.65.0.0/26"}},
		{"value of another key", syncer.Update{Type: syncer.UpdateChanged, Key: key("node-a", "10.65.0.0/26"), Value: &Affinity{Node: "node-a", Block: netip.MustParsePrefix("10.65.9.0/26"), State: AffinityConfirmed}}, true, nil},
		{"bad key", syncer.Update{Type: syncer.UpdateNew, Key: AffinityPrefix("node-a") + "ipv4/block/10.65.0.1-26", Value: []byte{}}, false, nil},
		{"deleted", syncer.Update{Type: syncer.UpdateDeleted, Key: key("node-b", "10.65.1.0/26")}, true, nil},
	}
	for _, st := range steps {
		if got := v.OnUpdates([]syncer.Update{st.u}); got != st.changed {
			t.Errorf("%s: changed = %v, want %v", st.name, got, st.changed)
		}
		if d := cmp.Diff(st.want, blocks(v, "node-a")); d != "" {
			t.Errorf("%s: node-a's blocks (-want +got):\n%s", st.name, d)
		}
	}
}

func TestDecodeAffinity(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       *Affinity
		err        bool
	}{
		{key: "/calico/ipam/v2/host/node-a/ipv4/block/10.65.0.0-26", value: `{"state":"pending","deleted":false}`,
			want: &Affinity{Node: "node-a", Block: netip.MustParsePrefix("10.65.0.0/26"), State: "pending"}},
		{key: "/calico/ipam/v2/host/node-a/ipv6/block/fd00:65::40-122", value: `{}`,
			want: &Affinity{Node: "node-a", Block: netip.MustParsePrefix("fd00:65::40/122"), State: AffinityConfirmed}},
		{key: "/calico/ipam/v2/host/node-a/ipv4/block/10.65.0.0-26", value: `{"deleted":true}`,
			want: &Affinity{Node: "node-a", Block: netip.MustParsePrefix("10.65.0.0/26")}},
		{key: "/calico/ipam/v2/host/node-a/ipv4/block/10.65.0.0-26", value: `nope`, err: true},
		{key: "/calico/ipam/v2/host/node-a/ipv6/block/10.65.0.0-26", err: true},
		{key: "/calico/ipam/v2/host/node-a/ipv4/block/10.65.0.0", err: true},
		{key: "/calico/ipam/v2/host/node-a/ipv4/block/10.65.0.0-33", err: true},
		{key: "/calico/ipam/v2/host//ipv4/block/10.65.0.0-26", err: true},
		{key: "/calico/ipam/v2/host/node-a/ipv4/x/10.65.0.0-26", err: true},
		{key: "/calico/ipam/v2/assignment/ipv4/block/10.65.0.0-26", err: true},
	} {
		got, err := DecodeAffinity(c.key, []byte(c.value))
		if (err != nil) != c.err {
			t.Errorf("%s %s: error %v, want error %v", c.key, c.value, err, c.err)
			continue
		}
		if d := cmp.Diff(c.want, got, cmpPrefix); d != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.key, c.value, d)
		}
	}
}
