package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/nsthread"
)

var _ kernel = (*netlinkKernel)(nil)

// netlinkKernel is the kernel seam over netlink, bound to one network
// namespace: a netlink handle whose sockets were opened in it, link
// subscriptions opened in it, and sysctls read and written from a thread
// inside it. Nothing here touches the namespace the process runs in
// unless that is the target.
type netlinkKernel struct {
	ns  netns.NsHandle
	h   *netlink.Handle
	sys *nsthread.Thread // nil: the target is the process's own namespace
}

// netlinkTimeout bounds every netlink request.
const netlinkTimeout = 10 * time.Second

// dumpRetries is how often an interrupted dump is retried.
const dumpRetries = 5

// nsPath resolves Config.NetNS.
func nsPath(spec string) string {
	switch {
	case spec == "":
		return "/proc/thread-self/ns/net"
	case !strings.Contains(spec, "/"):
		return filepath.Join("/run/netns", spec)
	}
	return spec
}

func openKernel(spec string) (*netlinkKernel, error) {
	path := nsPath(spec)
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	k := &netlinkKernel{ns: ns}
	if spec != "" {
		if k.sys, err = nsthread.Start(ns); err != nil {
			ns.Close()
			return nil, fmt.Errorf("network namespace %s: %w", path, err)
		}
	}
	k.h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		k.close()
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	if err := k.h.SetSocketTimeout(netlinkTimeout); err != nil {
		k.close()
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return k, nil
}

func (k *netlinkKernel) close() error {
	if k.h != nil {
		k.h.Close()
	}
	if k.sys != nil {
		k.sys.Stop()
	}
	return k.ns.Close()
}

// retryDump repeats a dump the kernel reports as interrupted (the table
// changed while it was read).
func retryDump[T any](f func() ([]T, error)) ([]T, error) {
	var err error
	for range dumpRetries {
		var out []T
		out, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

func (k *netlinkKernel) listLinks() ([]link, error) {
	ls, err := retryDump(k.h.LinkList)
	if err != nil {
		return nil, err
	}
	out := make([]link, 0, len(ls))
	for _, l := range ls {
		a := l.Attrs()
		out = append(out, link{
			Name:    a.Name,
			Index:   a.Index,
			AdminUp: a.Flags&net.FlagUp != 0,
			OperUp:  a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown,
		})
	}
	return out, nil
}

func (k *netlinkKernel) setLinkUp(l link) error {
	// By index: the name may have been reused since it was listed.
	return k.h.LinkSetUp(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: l.Index}})
}

func (k *netlinkKernel) readSysctl(path string) (string, error) {
	if k.sys == nil {
		return readSysctlFile(path)
	}
	var v string
	err := k.sys.Do(func() error {
		var err error
		v, err = readSysctlFile(path)
		return err
	})
	return v, err
}

func (k *netlinkKernel) readSysctls(paths []string) ([]string, []error) {
	vals, errs := make([]string, len(paths)), make([]error, len(paths))
	read := func() error {
		for i, p := range paths {
			vals[i], errs[i] = readSysctlFile(p)
		}
		return nil
	}
	if k.sys == nil {
		read()
	} else if err := k.sys.Do(read); err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return vals, errs
}

func (k *netlinkKernel) writeSysctl(path, value string) error {
	if k.sys == nil {
		return writeSysctlFile(path, value)
	}
	return k.sys.Do(func() error { return writeSysctlFile(path, value) })
}

func (k *netlinkKernel) listRoutes(proto int) ([]route, error) {
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: netlink.RouteProtocol(proto)}
	rs, err := retryDump(func() ([]netlink.Route, error) {
		return k.h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return nil, err
	}
	out := make([]route, 0, len(rs))
	for _, r := range rs {
		if r.Dst == nil || len(r.MultiPath) > 0 {
			continue
		}
		dst, ok := prefixFromIPNet(r.Dst)
		if !ok {
			continue
		}
		switch {
		case r.Type == unix.RTN_BLACKHOLE:
			out = append(out, route{Dst: dst, Proto: int(r.Protocol), Scope: int(r.Scope), Blackhole: true})
		case r.Type == unix.RTN_UNICAST && r.LinkIndex != 0:
			out = append(out, route{Dst: dst, Index: r.LinkIndex, Proto: int(r.Protocol), Scope: int(r.Scope)})
		}
	}
	return out, nil
}

func toNetlinkRoute(r route) *netlink.Route {
	nr := &netlink.Route{
		LinkIndex: r.Index,
		Dst:       &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Protocol:  netlink.RouteProtocol(r.Proto),
		Scope:     netlink.Scope(r.Scope),
		Table:     unix.RT_TABLE_MAIN,
		Type:      unix.RTN_UNICAST,
	}
	if r.Blackhole {
		nr.LinkIndex, nr.Type = 0, unix.RTN_BLACKHOLE
	}
	return nr
}

func (k *netlinkKernel) addRoute(r route) error {
	err := k.h.RouteAdd(toNetlinkRoute(r))
	if errors.Is(err, syscall.EEXIST) {
		return errRouteExists
	}
	return err
}

func (k *netlinkKernel) routesTo(dst netip.Prefix) ([]route, error) {
	fam := netlink.FAMILY_V4
	if dst.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN,
		Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())}}
	rs, err := k.h.RouteListFiltered(fam, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
	if err != nil {
		return nil, err
	}
	out := make([]route, 0, len(rs))
	for _, r := range rs {
		out = append(out, route{Dst: dst, Index: r.LinkIndex, Proto: int(r.Protocol), Scope: int(r.Scope), Blackhole: r.Type == unix.RTN_BLACKHOLE})
	}
	return out, nil
}

func (k *netlinkKernel) replaceRoute(r route) error {
	return k.h.RouteReplace(toNetlinkRoute(r))
}

func (k *netlinkKernel) delRoute(r route) error {
	// Dev (or type blackhole) and protocol are part of the request, so
	// the kernel deletes only the agent's route, never another's.
	err := k.h.RouteDel(toNetlinkRoute(r))
	if errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV) {
		return nil
	}
	return err
}

func (k *netlinkKernel) listNeighs() ([]neigh, error) {
	ns, err := retryDump(func() ([]netlink.Neigh, error) { return k.h.NeighList(0, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	out := make([]neigh, 0, len(ns))
	for _, n := range ns {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.Flags&netlink.NTF_PROXY != 0 {
			continue
		}
		nb := neigh{IP: ip.Unmap(), Index: n.LinkIndex, Permanent: n.State&netlink.NUD_PERMANENT != 0}
		if len(n.HardwareAddr) > 0 {
			nb.MAC = n.HardwareAddr.String()
		}
		out = append(out, nb)
	}
	return out, nil
}

func toNetlinkNeigh(n neigh) (*netlink.Neigh, error) {
	nl := &netlink.Neigh{LinkIndex: n.Index, IP: n.IP.AsSlice(), State: netlink.NUD_PERMANENT, Family: netlink.FAMILY_V4}
	if n.IP.Is6() {
		nl.Family = netlink.FAMILY_V6
	}
	if n.MAC != "" {
		mac, err := net.ParseMAC(n.MAC)
		if err != nil {
			return nil, err
		}
		nl.HardwareAddr = mac
	}
	return nl, nil
}

func (k *netlinkKernel) setNeigh(n neigh) error {
	nl, err := toNetlinkNeigh(n)
	if err != nil {
		return err
	}
	return k.h.NeighSet(nl)
}

func (k *netlinkKernel) delNeigh(n neigh) error {
	nl, err := toNetlinkNeigh(n)
	if err != nil {
		return err
	}
	err = k.h.NeighDel(nl)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV) {
		return nil
	}
	return err
}

func (k *netlinkKernel) subscribeLinks(done <-chan struct{}) (<-chan linkEvent, error) {
	updates := make(chan netlink.LinkUpdate, 1024)
	lost := make(chan struct{}, 1)
	ns := k.ns
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		Namespace: &ns,
		ErrorCallback: func(error) {
			select {
			case lost <- struct{}{}:
			default:
			}
		},
		ReceiveBufferSize: 4 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to link events: %w", err)
	}
	out := make(chan linkEvent, 64)
	go func() {
		defer close(out)
		// netlink's reader closes updates once done has closed the
		// socket; keep it from blocking on a full channel until then.
		defer func() { go drain(updates) }()
		for {
			select {
			case u, ok := <-updates:
				if !ok {
					return
				}
				ev := linkEvent{
					Index:   int(u.Index),
					Name:    u.Attrs().Name,
					Deleted: u.Header.Type == unix.RTM_DELLINK,
					AdminUp: u.Flags&unix.IFF_UP != 0,
					OperUp:  u.Attrs().OperState == netlink.OperUp || u.Attrs().OperState == netlink.OperUnknown,
				}
				select {
				case out <- ev:
				case <-done:
					return
				}
			case <-lost:
				select {
				case out <- linkEvent{Lost: true}:
				case <-done:
					return
				}
			}
		}
	}()
	return out, nil
}

// prefixFromIPNet converts a route destination.
func prefixFromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// drain reads ch until it is closed.
func drain[T any](ch <-chan T) {
	for range ch {
	}
}
