package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// hostAddrWatcher follows the addresses of the host's interfaces, which
// host endpoints without interfaceName are matched to: a list at start,
// then a list again after every burst of address events (they are rare
// on a host; workloads' interfaces only get link-local addresses, which
// are left out, so workload churn changes nothing here).
type hostAddrWatcher struct {
	ns  netns.NsHandle
	h   *netlink.Handle
	log *slog.Logger
}

// openHostAddrs opens the watcher for the namespace spec (Config.NetNS:
// a path, a name under /run/netns, or "" for the process's own).
func openHostAddrs(spec string, log *slog.Logger) (*hostAddrWatcher, error) {
	path := netnsPath(spec)
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return &hostAddrWatcher{ns: ns, h: h, log: log}, nil
}

func (w *hostAddrWatcher) close() {
	w.h.Close()
	w.ns.Close()
}

// list returns the global-scope addresses of every interface but lo, by
// interface name.
func (w *hostAddrWatcher) list() (map[string][]netip.Addr, error) {
	links, err := w.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	as, err := w.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	out := map[string][]netip.Addr{}
	for _, a := range as {
		name, ok := names[a.LinkIndex]
		if !ok || name == "lo" || a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLinkLocalUnicast() || ip.IsLoopback() {
			continue
		}
		if !slices.Contains(out[name], ip) {
			out[name] = append(out[name], ip)
		}
	}
	for _, v := range out {
		slices.SortFunc(v, func(a, b netip.Addr) int { return a.Compare(b) })
	}
	return out, nil
}

// run reports the addresses to set once it follows address events (so a
// change between the caller's list and the subscription is not missed),
// then after every burst of events until ctx ends, and every interval
// whatever happens (an interface renamed keeps its addresses without an
// event).
func (w *hostAddrWatcher) run(ctx context.Context, set func(map[string][]netip.Addr)) {
	const (
		settle   = 50 * time.Millisecond // a burst of events, one list
		interval = 30 * time.Second      // and a list now and then whatever happens
	)
	events := make(chan struct{}, 1)
	kick := func() {
		select {
		case events <- struct{}{}:
		default:
		}
	}
	addrs := make(chan netlink.AddrUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	ns := w.ns
	errCB := func(error) { kick() }
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{Namespace: &ns, ErrorCallback: errCB}); err != nil {
		w.log.Warn("cannot follow address events; listing them periodically", "error", err)
	}
	kick()
	go func() {
		for {
			select {
			case <-done:
				go drain(addrs)
				return
			case <-addrs:
				kick()
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			select {
			case <-ctx.Done():
				return
			case <-time.After(settle):
			}
		case <-tick.C:
		}
		m, err := w.list()
		if err != nil {
			w.log.Warn("cannot list the host's addresses", "error", err)
			continue
		}
		set(m)
	}
}

func drain[T any](c <-chan T) {
	for range c {
	}
}
