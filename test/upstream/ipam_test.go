package upstream

import (
	"net/netip"
	"slices"
	"testing"

	upv3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	upipam "github.com/projectcalico/calico/libcalico-go/lib/ipam"
	cnet "github.com/projectcalico/calico/libcalico-go/lib/net"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/ipam"
)

// TestIPAMAcrossClients: our IPAM and upstream's (libcalico-go's ipam,
// as calico-ipam and calicoctl use it) share one etcd. Each finds the
// other's allocations by handle and their attributes, allocates from the
// block the other claimed for the same host, releases the other's
// allocations, and our consistency check finds the other's data sound.
func TestIPAMAcrossClients(t *testing.T) {
	c := newCluster(t)
	ctx := testContext(t)
	for _, name := range []string{"host1", "host2"} {
		n := v3.NewNode()
		n.Metadata.Name = name
		if _, err := c.ours.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	p := v3.NewIPPool()
	p.Metadata.Name = "pool"
	p.Spec.CIDR, p.Spec.BlockSize = "10.77.0.0/24", 26
	if _, err := c.ours.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	ours := ipam.New(c.be, nil)
	up := c.up.IPAM()

	// We allocate; upstream sees it.
	mine, _, err := ours.AutoAssign(ctx, ipam.AssignArgs{Num4: 3, HandleID: "ours.1", Host: "host1",
		Attrs: map[string]string{"namespace": "default", "pod": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := up.IPsByHandle(ctx, "ours.1")
	if err != nil {
		t.Fatalf("upstream IPsByHandle of our handle: %v", err)
	}
	if want := mine; !slices.Equal(addrsOf(got), want) {
		t.Errorf("upstream sees %v under our handle, want %v", got, want)
	}
	attrs, handle, err := up.GetAssignmentAttributes(ctx, cnet.IP{IP: mine[0].AsSlice()})
	if err != nil || handle == nil || *handle != "ours.1" || attrs["pod"] != "web" {
		t.Errorf("upstream GetAssignmentAttributes(%s) = %v, %v, %v", mine[0], attrs, handle, err)
	}

	// Upstream allocates for the same host: from the block we claimed.
	hid := "up.1"
	a4, _, err := up.AutoAssign(ctx, upipam.AutoAssignArgs{Num4: 2, HandleID: &hid, Hostname: "host1",
		IntendedUse: upv3.IPPoolAllowedUseWorkload, Attrs: map[string]string{"pod": "api"}})
	if err != nil {
		t.Fatalf("upstream AutoAssign: %v", err)
	}
	theirs := addrsOfNets(a4.IPs)
	block := netip.PrefixFrom(mine[0], 26).Masked()
	for _, ip := range theirs {
		if !block.Contains(ip) || slices.Contains(mine, ip) {
			t.Errorf("upstream allocated %s: want a free address of our block %s", ip, block)
		}
	}
	if got, err := ours.IPsByHandle(ctx, "up.1"); err != nil || !slices.Equal(got, theirs) {
		t.Errorf("we see %v, %v under upstream's handle, want %v", got, err, theirs)
	}

	// Upstream claims a block for another host; we read it.
	hid2 := "up.2"
	if _, _, err := up.AutoAssign(ctx, upipam.AutoAssignArgs{Num4: 1, HandleID: &hid2, Hostname: "host2",
		IntendedUse: upv3.IPPoolAllowedUseWorkload}); err != nil {
		t.Fatalf("upstream AutoAssign for host2: %v", err)
	}
	usage, err := ours.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]int{}
	for _, b := range usage[0].Blocks {
		hosts[b.Host] += b.InUse
	}
	if hosts["host1"] != 5 || hosts["host2"] != 1 || usage[0].InUse != 6 {
		t.Errorf("our view of the blocks: %+v", usage)
	}
	// Nothing is wrong but that no endpoint uses the addresses.
	r, err := ours.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allocations != 6 || len(r.Leaked) != 6 || r.Problems() != 6 {
		t.Errorf("check of both writers' data: %+v", r)
	}
	if ours.Skipped() != 0 {
		t.Errorf("we skipped %d values", ours.Skipped())
	}

	// Each releases the other's.
	if err := up.ReleaseByHandle(ctx, "ours.1"); err != nil {
		t.Errorf("upstream ReleaseByHandle of our handle: %v", err)
	}
	for _, h := range []string{"up.1", "up.2"} {
		if freed, err := ours.ReleaseByHandle(ctx, h); err != nil || len(freed) == 0 {
			t.Errorf("our ReleaseByHandle of upstream's %s: %v, %v", h, freed, err)
		}
	}
	r, err = ours.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allocations != 0 || r.Problems() != 0 {
		t.Errorf("after the releases: %+v", r)
	}
	if ips, err := up.IPsByHandle(ctx, "up.1"); err == nil && len(ips) > 0 {
		t.Errorf("upstream still sees %v under up.1", ips)
	}

	// The IPAM configuration: ours written, upstream's read.
	if err := ours.SetConfig(ctx, ipam.Config{StrictAffinity: true, AutoAllocateBlocks: true, MaxBlocksPerHost: 3}); err != nil {
		t.Fatal(err)
	}
	cfg, err := up.GetIPAMConfig(ctx)
	if err != nil || !cfg.StrictAffinity || !cfg.AutoAllocateBlocks || cfg.MaxBlocksPerHost != 3 {
		t.Errorf("upstream reads our IPAM configuration as %+v, %v", cfg, err)
	}
}

func addrsOf(ips []cnet.IP) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		a, _ := netip.AddrFromSlice(ip.IP)
		out = append(out, a.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func addrsOfNets(ns []cnet.IPNet) []netip.Addr {
	var out []netip.Addr
	for _, n := range ns {
		a, _ := netip.AddrFromSlice(n.IP)
		out = append(out, a.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
