package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
)

// kernel is the seam between the reconciler and the OS: the few netlink
// and sysctl operations the reconciler needs, all in the target network
// namespace. netlinkKernel is the real one, FakeKernel models it.
//
// Deleting something that is already gone is success. addRoute fails
// with errRouteExists when any route to the destination exists in the
// main table (whoever owns it); replaceRoute overwrites it.
type kernel interface {
	listLinks() ([]link, error)
	setLinkUp(l link) error
	readSysctl(path string) (string, error)
	// readSysctls reads many at once (one trip to the namespace's
	// thread): vals[i] and errs[i] are paths[i]'s.
	readSysctls(paths []string) (vals []string, errs []error)
	writeSysctl(path, value string) error
	// listRoutes returns the main table's device and blackhole routes
	// of one protocol.
	listRoutes(proto int) ([]route, error)
	addRoute(r route) error
	// routesTo returns the main table's routes to exactly dst, of any
	// protocol (Index 0 for routes without a device).
	routesTo(dst netip.Prefix) ([]route, error)
	replaceRoute(r route) error
	delRoute(r route) error
	// listNeighs returns every neighbour entry of both families.
	listNeighs() ([]neigh, error)
	setNeigh(n neigh) error
	delNeigh(n neigh) error
	// subscribeLinks streams link changes until done is closed or the
	// subscription breaks; then the channel is closed.
	subscribeLinks(done <-chan struct{}) (<-chan linkEvent, error)
	close() error
}

// errRouteExists: a route to the destination exists already.
var errRouteExists = errors.New("a route to this destination already exists")

// link is a network interface.
type link struct {
	Name    string
	Index   int
	AdminUp bool // IFF_UP
	OperUp  bool // operstate up or unknown (carrier present)
}

// linkEvent is one link change; Lost means events may have been missed.
type linkEvent struct {
	Index   int
	Name    string
	Deleted bool
	AdminUp bool
	OperUp  bool
	Lost    bool
}

// Route scopes as the kernel numbers them.
const (
	scopeUniverse = 0
	scopeLink     = 253
)

// route is a route in the main table: a device route (Dst dev Index
// proto Proto), or with Blackhole a blackhole route (blackhole Dst proto
// Proto), whose Index is 0 whatever the kernel says (it puts IPv6 ones on
// lo).
type route struct {
	Dst       netip.Prefix
	Index     int
	Proto     int
	Scope     int
	Blackhole bool
}

type routeKey struct {
	Dst   netip.Prefix
	Index int
}

func (r route) key() routeKey { return routeKey{r.Dst, r.Index} }

func (r route) String() string {
	if r.Blackhole {
		return fmt.Sprintf("blackhole %s proto %d", r.Dst, r.Proto)
	}
	return fmt.Sprintf("%s dev #%d proto %d scope %d", r.Dst, r.Index, r.Proto, r.Scope)
}

// neigh is a neighbour (ARP/NDP) entry.
type neigh struct {
	IP        netip.Addr
	Index     int
	MAC       string // canonical, "" when none
	Permanent bool
}

type neighKey struct {
	IP    netip.Addr
	Index int
}

func (n neigh) key() neighKey { return neighKey{n.IP, n.Index} }

func (n neigh) String() string {
	return fmt.Sprintf("%s dev #%d lladdr %s", n.IP, n.Index, n.MAC)
}
