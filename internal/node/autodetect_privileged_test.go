package node

import (
	"context"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/nsthread"
	"github.com/gocalico/calico/internal/testenv"
)

// newTestNetNS makes a network namespace for the test and a thread in it;
// both go when the test ends.
func newTestNetNS(t *testing.T) *nsthread.Thread {
	t.Helper()
	testenv.RequireRoot(t, "creates a network namespace")
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	ns, err := netns.New() // switches this thread: switch back at once
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		// This thread is stuck in the new namespace: leave it locked so
		// the runtime ends it with the test goroutine.
		t.Fatal(err)
	}
	runtime.UnlockOSThread()
	orig.Close()
	th, err := nsthread.Start(ns)
	ns.Close() // the thread holds the namespace
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(th.Stop)
	return th
}

// TestPrivilegedAutodetect runs every method against real interfaces:
// veths (both ends up, so they have a carrier) in a namespace of the
// test's own. can-reach only "connects" UDP sockets to addresses on
// these veths: nothing is sent.
func TestPrivilegedAutodetect(t *testing.T) {
	th := newTestNetNS(t)
	err := th.Do(func() error {
		for _, l := range []struct {
			name  string
			up    bool
			addrs []string
		}{
			{"ens0", false, []string{"10.0.0.5/24"}},
			{"docker0", true, []string{"172.17.0.1/16"}},
			{"cali12345", true, []string{"10.65.0.1/32"}},
			{"ens2", true, []string{"10.20.2.5/24", "2001:db8:2::5/64"}},
			{"ens1", true, []string{"10.10.1.5/24"}},
		} {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.name}, PeerName: l.name + "p"}
			if err := netlink.LinkAdd(veth); err != nil {
				return err
			}
			for _, a := range l.addrs {
				ipn, err := netlink.ParseIPNet(a)
				if err != nil {
					return err
				}
				if err := netlink.AddrAdd(veth, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
					return err
				}
			}
			if l.up {
				peer, err := netlink.LinkByName(l.name + "p")
				if err != nil {
					return err
				}
				if err := netlink.LinkSetUp(peer); err != nil {
					return err
				}
				if err := netlink.LinkSetUp(veth); err != nil {
					return err
				}
			}
		}
		return netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo"}})
	})
	if err != nil {
		t.Fatalf("setting up interfaces: %v", err)
	}

	for _, tt := range []struct {
		method string
		six    bool
		want   string
	}{
		// ens0 is down; docker0 and cali* are skipped; ens2 comes before
		// ens1 in index order.
		{"first-found", false, "10.20.2.5/24"},
		{"first-found", true, "2001:db8:2::5/64"},
		{"interface=ens.*", false, "10.10.1.5/24"}, // name order
		{"interface=ens2", false, "10.20.2.5/24"},
		{"interface=docker0", false, "172.17.0.1/16"},
		{"interface=ens0", false, ""},
		{"skip-interface=ens2", false, "10.10.1.5/24"},
		{"skip-interface=ens.*", false, ""},
		{"cidr=10.10.0.0/16", false, "10.10.1.5/24"},
		{"cidr=192.168.0.0/16,10.20.2.0/24", false, "10.20.2.5/24"},
		{"cidr=10.0.0.0/24", false, ""},
		{"can-reach=10.10.1.9", false, "10.10.1.5/24"},
		{"can-reach=10.20.2.77", false, "10.20.2.5/24"},
		{"can-reach=2001:db8:2::9", true, "2001:db8:2::5/64"},
		{"can-reach=10.99.0.1", false, ""}, // no route in this namespace
	} {
		want := Addresses{IPv4: "none", IPv6: "none"}
		if tt.six {
			want.IPv6, want.IPv6Method = "autodetect", tt.method
		} else {
			want.IPv4, want.IPv4Method = "autodetect", tt.method
		}
		var v4, v6 string
		err := th.Do(func() error {
			var err error
			v4, v6, err = hostAddresses(context.Background(), want, kernelHost{}, quiet())
			return err
		})
		got := v4
		if tt.six {
			got = v6
		}
		if err != nil || got != tt.want {
			t.Errorf("%s (IPv6 %v) = %q, %v; want %q", tt.method, tt.six, got, err, tt.want)
		}
	}

}
