package dataplane

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
)

var _ kernel = (*FakeKernel)(nil)

// FakeKernel models the part of a network namespace the dataplane
// touches: interfaces, the main routing table (one route per
// destination, as with metric 0), neighbour entries and sysctls, with the
// kernel's side effects (a deleted or downed interface loses its routes
// and neighbours). Tests change it behind the dataplane's back with the
// exported methods and compare Dump output whole. Safe for concurrent use.
type FakeKernel struct {
	mu      sync.Mutex
	links   map[string]*fakeLink
	nextIdx int
	sysctls map[string]string
	routes  map[netip.Prefix]route
	neighs  map[neighKey]neigh
	subs    []chan linkEvent
	emitted int
	writes  map[string]int
	fail    map[string]error
	// failOn: errors of an operation on one object, until cleared.
	failOn map[failOn]error
}

// failOn is an operation on one object (see Fail).
type failOn struct{ op, object string }

type fakeLink struct {
	link
	noCarrier bool
}

// NewFakeKernel returns a namespace holding only "lo" and the host-wide
// sysctls at their kernel defaults.
func NewFakeKernel() *FakeKernel {
	k := &FakeKernel{
		links:   map[string]*fakeLink{},
		nextIdx: 1,
		sysctls: map[string]string{"net/ipv4/ip_forward": "0", "net/ipv6/conf/all/forwarding": "0"},
		routes:  map[netip.Prefix]route{},
		neighs:  map[neighKey]neigh{},
		writes:  map[string]int{},
		fail:    map[string]error{},
		failOn:  map[failOn]error{},
	}
	k.AddLink("lo", true)
	return k
}

// NewFake returns a dataplane over a new FakeKernel, and the kernel.
func NewFake(log *slog.Logger, m *Metrics) (*Linux, *FakeKernel) {
	return NewFakeConfig(Config{Log: log, Metrics: m})
}

// NewFakeConfig is NewFake with the Config's log, metrics and clock (its
// NetNS is ignored).
func NewFakeConfig(cfg Config) (*Linux, *FakeKernel) {
	k := NewFakeKernel()
	d := newLinux(k, cfg.Log, cfg.Metrics)
	if cfg.Clock != nil {
		d.now = cfg.Clock
	}
	return d, k
}

// fakeIfaceSysctls are the per-interface sysctls modelled, with the
// kernel's defaults.
var fakeIfaceSysctls = []sysctl{
	{"net/ipv4/conf/%s/forwarding", "0"},
	{"net/ipv4/conf/%s/proxy_arp", "0"},
	{"net/ipv4/conf/%s/rp_filter", "0"},
	{"net/ipv4/neigh/%s/proxy_delay", "80"},
	{"net/ipv6/conf/%s/accept_ra", "1"},
	{"net/ipv6/conf/%s/forwarding", "0"},
	{"net/ipv6/conf/%s/proxy_ndp", "0"},
}

// AddLink creates an interface, admin up or down, with carrier.
func (k *FakeKernel) AddLink(name string, up bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.links[name]; ok {
		panic("fake: link exists: " + name)
	}
	l := &fakeLink{link: link{Name: name, Index: k.nextIdx, AdminUp: up, OperUp: up}}
	k.nextIdx++
	k.links[name] = l
	for _, s := range fakeIfaceSysctls {
		k.sysctls[fmt.Sprintf(s.path, name)] = s.value
	}
	k.emit(linkEvent{Index: l.Index, Name: name, AdminUp: up, OperUp: up})
}

// DelLink deletes an interface with its routes, neighbours and sysctls.
func (k *FakeKernel) DelLink(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.mustLink(name)
	k.flush(l.Index)
	delete(k.links, name)
	for _, s := range fakeIfaceSysctls {
		delete(k.sysctls, fmt.Sprintf(s.path, name))
	}
	k.emit(linkEvent{Index: l.Index, Name: name, Deleted: true})
}

// SetLinkDown sets an interface admin down; the kernel flushes its
// routes and neighbours.
func (k *FakeKernel) SetLinkDown(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.mustLink(name)
	l.AdminUp, l.OperUp = false, false
	k.flush(l.Index)
	k.emit(linkEvent{Index: l.Index, Name: name})
}

// SetCarrier plugs or unplugs an interface's cable.
func (k *FakeKernel) SetCarrier(name string, carrier bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.mustLink(name)
	l.noCarrier = !carrier
	l.OperUp = l.AdminUp && carrier
	k.emit(linkEvent{Index: l.Index, Name: name, AdminUp: l.AdminUp, OperUp: l.OperUp})
}

// AddRoute adds a route by hand (as `ip route add DST dev DEV proto P`).
func (k *FakeKernel) AddRoute(dst, dev string, proto int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := netip.MustParsePrefix(dst)
	scope := scopeLink
	if p.Addr().Is6() {
		scope = scopeUniverse
	}
	if _, ok := k.routes[p]; ok {
		panic("fake: route exists: " + dst)
	}
	k.routes[p] = route{Dst: p, Index: k.mustLink(dev).Index, Proto: proto, Scope: scope}
}

// AddBlackhole adds a blackhole route by hand (as `ip route add
// blackhole DST proto P`).
func (k *FakeKernel) AddBlackhole(dst string, proto int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := netip.MustParsePrefix(dst)
	if _, ok := k.routes[p]; ok {
		panic("fake: route exists: " + dst)
	}
	k.routes[p] = route{Dst: p, Proto: proto, Blackhole: true}
}

// DelRoute deletes a route by hand, whoever owns it.
func (k *FakeKernel) DelRoute(dst string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.routes, netip.MustParsePrefix(dst))
}

// AddNeigh adds a neighbour entry by hand.
func (k *FakeKernel) AddNeigh(ip, dev, mac string, permanent bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := neigh{IP: netip.MustParseAddr(ip), Index: k.mustLink(dev).Index, MAC: mac, Permanent: permanent}
	k.neighs[n.key()] = n
}

// HasLink reports whether an interface exists.
func (k *FakeKernel) HasLink(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.links[name]
	return ok
}

// DelNeigh deletes a neighbour entry by hand.
func (k *FakeKernel) DelNeigh(ip, dev string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.neighs, neighKey{netip.MustParseAddr(ip), k.mustLink(dev).Index})
}

// SetSysctl changes a sysctl by hand.
func (k *FakeKernel) SetSysctl(path, value string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.sysctls[path]; !ok {
		panic("fake: no sysctl " + path)
	}
	k.sysctls[path] = value
}

// FailNext makes the next call of a seam operation ("addRoute",
// "writeSysctl", "listLinks", ...) return err.
func (k *FakeKernel) FailNext(op string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail[op] = err
}

// Fail makes every call of a seam operation on one object fail with err,
// until Fail is called again for them with a nil err. op is as for
// FailNext ("addRoute", "replaceRoute", "delRoute", "setNeigh",
// "delNeigh", "writeSysctl", "setLinkUp"); object is what it acts on,
// as Dump names it: a route's destination ("10.0.0.1/32"), a neighbour's
// address, a sysctl's path, an interface's name.
func (k *FakeKernel) Fail(op, object string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		delete(k.failOn, failOn{op, object})
		return
	}
	k.failOn[failOn{op, object}] = err
}

// LoseEvents breaks every link subscription, as a socket overrun does.
func (k *FakeKernel) LoseEvents() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, ch := range k.subs {
		close(ch)
	}
	k.subs = nil
}

// Writes returns how many successful writes of each kind the dataplane
// made ("addRoute", "replaceRoute", "delRoute", "setNeigh", "delNeigh",
// "writeSysctl", "setLinkUp").
func (k *FakeKernel) Writes() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]int, len(k.writes))
	for op, n := range k.writes {
		out[op] = n
	}
	return out
}

// Dump renders the modelled state, one sorted line per object:
//
//	link cali1 up
//	neigh 10.65.0.3 dev cali1 lladdr ee:ee:ee:ee:ee:ee permanent
//	route 10.65.0.3/32 dev cali1 proto 80 scope link
//	route 10.65.0.0/26 blackhole proto 80
//	sysctl net/ipv4/conf/cali1/proxy_arp 1
func (k *FakeKernel) Dump() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	names := map[int]string{}
	var lines []string
	for _, l := range k.links {
		names[l.Index] = l.Name
		st := "down"
		if l.AdminUp {
			st = "up"
		}
		if l.noCarrier {
			st += " no-carrier"
		}
		lines = append(lines, fmt.Sprintf("link %s %s", l.Name, st))
	}
	for _, r := range k.routes {
		if r.Blackhole {
			lines = append(lines, fmt.Sprintf("route %s blackhole proto %d", r.Dst, r.Proto))
			continue
		}
		scope := "global"
		if r.Scope == scopeLink {
			scope = "link"
		}
		lines = append(lines, fmt.Sprintf("route %s dev %s proto %d scope %s", r.Dst, names[r.Index], r.Proto, scope))
	}
	for _, n := range k.neighs {
		st := "reachable"
		if n.Permanent {
			st = "permanent"
		}
		lines = append(lines, fmt.Sprintf("neigh %s dev %s lladdr %s %s", n.IP, names[n.Index], n.MAC, st))
	}
	for p, v := range k.sysctls {
		lines = append(lines, fmt.Sprintf("sysctl %s %s", p, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

func (k *FakeKernel) mustLink(name string) *fakeLink {
	l, ok := k.links[name]
	if !ok {
		panic("fake: no link " + name)
	}
	return l
}

func (k *FakeKernel) byIndex(i int) *fakeLink {
	for _, l := range k.links {
		if l.Index == i {
			return l
		}
	}
	return nil
}

func (k *FakeKernel) flush(index int) {
	for p, r := range k.routes {
		if r.Index == index && !r.Blackhole {
			delete(k.routes, p)
		}
	}
	for nk := range k.neighs {
		if nk.Index == index {
			delete(k.neighs, nk)
		}
	}
}

// emit delivers an event to every subscription; a full one is broken,
// as an overrun netlink socket is.
func (k *FakeKernel) emit(ev linkEvent) {
	if len(k.subs) > 0 {
		k.emitted++ // events someone could see
	}
	live := k.subs[:0]
	for _, ch := range k.subs {
		select {
		case ch <- ev:
			live = append(live, ch)
		default:
			close(ch)
		}
	}
	k.subs = live
}

// injected returns and clears the error queued for op.
func (k *FakeKernel) injected(op string) error {
	err := k.fail[op]
	delete(k.fail, op)
	return err
}

// injectedOn returns the error queued for op (see FailNext), or else the
// error op fails with on object (see Fail).
func (k *FakeKernel) injectedOn(op, object string) error {
	if err := k.injected(op); err != nil {
		return err
	}
	return k.failOn[failOn{op, object}]
}

func (k *FakeKernel) wrote(op string) { k.writes[op]++ }

func (k *FakeKernel) listLinks() ([]link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("listLinks"); err != nil {
		return nil, err
	}
	out := make([]link, 0, len(k.links))
	for _, l := range k.links {
		out = append(out, l.link)
	}
	return out, nil
}

func (k *FakeKernel) setLinkUp(l link) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injectedOn("setLinkUp", l.Name); err != nil {
		return err
	}
	fl := k.byIndex(l.Index)
	if fl == nil {
		return syscall.ENODEV
	}
	if !fl.AdminUp {
		fl.AdminUp, fl.OperUp = true, !fl.noCarrier
		k.emit(linkEvent{Index: fl.Index, Name: fl.Name, AdminUp: true, OperUp: fl.OperUp})
	}
	k.wrote("setLinkUp")
	return nil
}

func (k *FakeKernel) readSysctl(path string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("readSysctl"); err != nil {
		return "", err
	}
	v, ok := k.sysctls[path]
	if !ok {
		return "", fs.ErrNotExist
	}
	return v, nil
}

func (k *FakeKernel) readSysctls(paths []string) ([]string, []error) {
	vals, errs := make([]string, len(paths)), make([]error, len(paths))
	for i, p := range paths {
		vals[i], errs[i] = k.readSysctl(p)
	}
	return vals, errs
}

func (k *FakeKernel) writeSysctl(path, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injectedOn("writeSysctl", path); err != nil {
		return err
	}
	if _, ok := k.sysctls[path]; !ok {
		return fs.ErrNotExist
	}
	k.sysctls[path] = value
	k.wrote("writeSysctl")
	return nil
}

func (k *FakeKernel) listRoutes(proto int) ([]route, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("listRoutes"); err != nil {
		return nil, err
	}
	var out []route
	for _, r := range k.routes {
		if r.Proto == proto {
			out = append(out, r)
		}
	}
	return out, nil
}

// usable checks what the kernel checks before adding a route: a device
// route's interface must exist and be up.
func (k *FakeKernel) usable(r route) error {
	if r.Blackhole {
		return nil
	}
	l := k.byIndex(r.Index)
	switch {
	case l == nil:
		return syscall.ENODEV
	case !l.AdminUp:
		return syscall.ENETDOWN
	}
	return nil
}

func (k *FakeKernel) addRoute(r route) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injectedOn("addRoute", r.Dst.String()); err != nil {
		return err
	}
	if err := k.usable(r); err != nil {
		return err
	}
	if _, ok := k.routes[r.Dst]; ok {
		return errRouteExists
	}
	k.routes[r.Dst] = r
	k.wrote("addRoute")
	return nil
}

func (k *FakeKernel) routesTo(dst netip.Prefix) ([]route, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.routes[dst]; ok {
		return []route{r}, nil
	}
	return nil, nil
}

func (k *FakeKernel) replaceRoute(r route) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injectedOn("replaceRoute", r.Dst.String()); err != nil {
		return err
	}
	if err := k.usable(r); err != nil {
		return err
	}
	k.routes[r.Dst] = r
	k.wrote("replaceRoute")
	return nil
}

func (k *FakeKernel) delRoute(r route) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injectedOn("delRoute", r.Dst.String()); err != nil {
		return err
	}
	// As the kernel does, given dev (or type) and protocol: only a
	// matching route is deleted; none matching is success for the seam.
	if cur, ok := k.routes[r.Dst]; ok && cur.Index == r.Index && cur.Proto == r.Proto && cur.Blackhole == r.Blackhole {
		delete(k.routes, r.Dst)
		k.wrote("delRoute")
	}
	return nil
}

func (k *FakeKernel) listNeighs() ([]neigh, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("listNeighs"); err != nil {
		return nil, err
	}
	out := make([]neigh, 0, len(k.neighs))
	for _, n := range k.neighs {
		out = append(out, n)
	}
	return out, nil
}

func (k *FakeKernel) setNeigh(n neigh) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injectedOn("setNeigh", n.IP.String()); err != nil {
		return err
	}
	if k.byIndex(n.Index) == nil {
		return syscall.ENODEV
	}
	k.neighs[n.key()] = n
	k.wrote("setNeigh")
	return nil
}

func (k *FakeKernel) delNeigh(n neigh) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injectedOn("delNeigh", n.IP.String()); err != nil {
		return err
	}
	if _, ok := k.neighs[n.key()]; ok {
		delete(k.neighs, n.key())
		k.wrote("delNeigh")
	}
	return nil
}

func (k *FakeKernel) subscribeLinks(done <-chan struct{}) (<-chan linkEvent, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("subscribeLinks"); err != nil {
		return nil, err
	}
	ch := make(chan linkEvent, 256)
	k.subs = append(k.subs, ch)
	go func() {
		<-done
		k.mu.Lock()
		defer k.mu.Unlock()
		if i := slices.Index(k.subs, ch); i >= 0 {
			k.subs = slices.Delete(k.subs, i, i+1)
			close(ch)
		}
	}()
	return ch, nil
}

func (k *FakeKernel) close() error { return nil }
