package agent

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/agent/internal/nstest"
)

// TestPrivilegedHostAddrs: the watcher lists the global addresses of a
// namespace's interfaces (not lo's, not link-local ones), and reports a
// change after an address is added.
func TestPrivilegedHostAddrs(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.GuardRoot(t)
	ns := nstest.New(t, "addrs")
	ns.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	ns.LinkUp(t, "eth0")
	ns.AddAddr(t, "eth0", "10.99.0.1/24")
	ns.AddAddr(t, "eth0", "fe80::1/64")
	w, err := openHostAddrs(ns.Path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	m, err := w.list()
	if err != nil {
		t.Fatal(err)
	}
	if got := m["eth0"]; len(m) != 1 || len(got) != 1 || got[0] != netip.MustParseAddr("10.99.0.1") {
		t.Fatalf("addresses %v, want eth0's 10.99.0.1 only", m)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan map[string][]netip.Addr, 16)
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, func(m map[string][]netip.Addr) { got <- m }) }()
	defer func() { cancel(); <-done }()
	// The first report is the list run makes once it follows events.
	deadline := time.After(30 * time.Second)
	select {
	case m := <-got:
		if len(m) != 1 || len(m["eth0"]) != 1 {
			t.Fatalf("first report %v, want eth0's 10.99.0.1 only", m)
		}
	case <-deadline:
		t.Fatal("no first report within 30s")
	}
	ns.AddAddr(t, "eth0", "fd00:99::1/64")
	// Well within run's 30s periodic list: the event must bring it.
	deadline = time.After(10 * time.Second)
	for {
		select {
		case m := <-got:
			if len(m["eth0"]) == 2 && m["eth0"][1] == netip.MustParseAddr("fd00:99::1") {
				return
			}
		case <-deadline:
			t.Fatal("no report of the new address within 10s")
		}
	}
}
