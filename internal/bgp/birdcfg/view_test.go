package birdcfg

import (
	"math/rand/v2"
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
	for _, file := range []string{"mesh3.yaml", "dual.yaml", "rr.yaml", "peers.yaml", "as.yaml", "options.yaml", "pools.yaml", "bad.yaml"} {
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
				if d := cmp.Diff(want, got); d != "" {
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
