package node

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/resources"
)

func TestResolveAddressSetting(t *testing.T) {
	detected := netip.MustParsePrefix("10.0.0.5/24")
	for _, tt := range []struct {
		in    string
		six   bool
		want  string
		isErr bool
	}{
		{"autodetect", false, "10.0.0.5/24", false},
		{"none", false, "", false},
		{"", true, "", false},
		{"10.9.9.9/16", false, "10.9.9.9/16", false},
		{"10.9.9.9", false, "10.9.9.9/32", false},
		{"fd00::5/64", true, "fd00::5/64", false},
		{"fd00::5/64", false, "", true},
		{"not-an-ip", false, "", true},
	} {
		got, err := resolve(tt.in, detected, true, tt.six)
		if (err != nil) != tt.isErr || got != tt.want {
			t.Errorf("resolve(%q, v6=%v) = %q, %v; want %q, error %v", tt.in, tt.six, got, err, tt.want, tt.isErr)
		}
	}
	if got, err := resolve("autodetect", netip.Prefix{}, false, false); got != "" || err != nil {
		t.Errorf("resolve(autodetect, nothing found) = %q, %v; want none", got, err)
	}
}

// TestRegisterNode: the Node is created with its addresses, an operator's
// fields survive a re-registration, an unchanged registration writes
// nothing, and other nodes are left alone.
func TestRegisterNode(t *testing.T) {
	_, be := etcdtest.Embedded(t)
	c := resources.New(be)
	ctx := context.Background()

	other := v3.NewNode()
	other.Metadata.Name = "other"
	other.Spec.BGP = &v3.NodeBGPSpec{IPv4Address: "10.0.0.9/24"}
	if _, err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	otherBefore, _ := c.Get(ctx, "Node", "", "other")

	if err := RegisterNode(ctx, c, "host1", Addresses{IPv4: "10.0.0.5/24", IPv6: "fd00::5/64"}, quiet()); err != nil {
		t.Fatal(err)
	}
	r, err := c.Get(ctx, "Node", "", "host1")
	if err != nil {
		t.Fatal(err)
	}
	n := r.(*v3.Node)
	want := v3.NodeSpec{
		BGP:       &v3.NodeBGPSpec{IPv4Address: "10.0.0.5/24", IPv6Address: "fd00::5/64"},
		Addresses: []v3.NodeAddress{{Address: "10.0.0.5/24", Type: "CalicoNodeIP"}, {Address: "fd00::5/64", Type: "CalicoNodeIP"}},
	}
	if diff := cmp.Diff(want, n.Spec); diff != "" {
		t.Errorf("registered spec (-want +got):\n%s", diff)
	}

	// An operator sets an AS number and a route reflector cluster ID.
	as := v3.ASNumber(64600)
	n.Spec.BGP.ASNumber = &as
	n.Spec.BGP.RouteReflectorClusterID = "1.0.0.1"
	if _, err := c.Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	r, _ = c.Get(ctx, "Node", "", "host1")
	rev := r.GetObjectMeta().ResourceVersion

	// Same addresses again: nothing written.
	if err := RegisterNode(ctx, c, "host1", Addresses{IPv4: "10.0.0.5/24", IPv6: "fd00::5/64"}, quiet()); err != nil {
		t.Fatal(err)
	}
	r, _ = c.Get(ctx, "Node", "", "host1")
	if got := r.GetObjectMeta().ResourceVersion; got != rev {
		t.Errorf("unchanged registration rewrote the Node (revision %s -> %s)", rev, got)
	}

	// New IPv4 address: updated, the operator's fields kept.
	if err := RegisterNode(ctx, c, "host1", Addresses{IPv4: "10.0.0.6/24", IPv6: "none"}, quiet()); err != nil {
		t.Fatal(err)
	}
	r, _ = c.Get(ctx, "Node", "", "host1")
	n = r.(*v3.Node)
	wantBGP := &v3.NodeBGPSpec{IPv4Address: "10.0.0.6/24", ASNumber: &as, RouteReflectorClusterID: "1.0.0.1"}
	if diff := cmp.Diff(wantBGP, n.Spec.BGP); diff != "" {
		t.Errorf("BGP spec after re-registration (-want +got):\n%s", diff)
	}

	otherAfter, _ := c.Get(ctx, "Node", "", "other")
	if diff := cmp.Diff(otherBefore, otherAfter); diff != "" {
		t.Errorf("another node changed (-before +after):\n%s", diff)
	}
}
