package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/agent/config"
	"github.com/gocalico/calico/internal/nsthread"
)

// nsThread is a thread inside a lab namespace: sockets opened there (a
// netlink subscription, a TCP connection to calico-node's loopback
// listeners) belong to that namespace and can then be used from any
// goroutine.
type nsThread struct{ *nsthread.Thread }

func startNSThread(name string) (*nsThread, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	defer ns.Close()
	t, err := nsthread.Start(ns)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	return &nsThread{t}, nil
}

func (t *nsThread) do(f func() error) error { return t.Do(f) }
func (t *nsThread) stop()                   { t.Stop() }

// dial opens a connection from inside the namespace (http.Transport's
// DialContext).
func (t *nsThread) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := t.do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// routeWatch follows IPv4 route events in a namespace and tells waiters
// when the agent's /32 routes (protocol config.RouteProtocol) to given
// addresses were added or deleted. Each event is stamped as soon as this
// process reads it.
type routeWatch struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	waiters []*routeWaiter
	adds    int
	dels    int
	err     error
}

type routeWaiter struct {
	add     bool
	pending map[netip.Addr]bool
	at      chan time.Time
}

// watchRoutes subscribes to route events in t's namespace: the netlink
// socket is opened on t's thread, so it is that namespace's.
func watchRoutes(t *nsThread) (*routeWatch, error) {
	w := &routeWatch{stop: make(chan struct{}), done: make(chan struct{})}
	ch := make(chan netlink.RouteUpdate, 4096)
	err := t.do(func() error {
		return netlink.RouteSubscribeWithOptions(ch, w.stop, netlink.RouteSubscribeOptions{
			// 250 routes at once must never overflow it.
			ReceiveBufferSize:      8 << 20,
			ReceiveBufferForceSize: true,
			ErrorCallback:          w.fail,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to route events: %w", err)
	}
	go w.run(ch)
	return w, nil
}

// run reads events until the subscription ends (close).
func (w *routeWatch) run(ch <-chan netlink.RouteUpdate) {
	defer close(w.done)
	for u := range ch {
		now := time.Now()
		if u.Type != unix.RTM_NEWROUTE && u.Type != unix.RTM_DELROUTE {
			continue
		}
		if u.Family != unix.AF_INET || u.Dst == nil || int(u.Protocol) != config.RouteProtocol {
			continue
		}
		if ones, _ := u.Dst.Mask.Size(); ones != 32 {
			continue
		}
		if ip, ok := netip.AddrFromSlice(u.Dst.IP); ok {
			w.event(u.Type == unix.RTM_NEWROUTE, ip.Unmap(), now)
		}
	}
}

func (w *routeWatch) event(add bool, ip netip.Addr, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if add {
		w.adds++
	} else {
		w.dels++
	}
	keep := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.add == add && wt.pending[ip] {
			delete(wt.pending, ip)
			if len(wt.pending) == 0 {
				wt.at <- at
				continue
			}
		}
		keep = append(keep, wt)
	}
	w.waiters = keep
}

// fail records a subscription error (ENOBUFS: events were lost, and the
// benchmark with them). Errors after close are expected.
func (w *routeWatch) fail(err error) {
	select {
	case <-w.stop:
		return
	default:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// expect returns a channel that receives the time of the last of the
// events (route added, or deleted) for all of ips seen from now on.
// Register before the write that causes them.
func (w *routeWatch) expect(add bool, ips ...netip.Addr) <-chan time.Time {
	wt := &routeWaiter{add: add, pending: map[netip.Addr]bool{}, at: make(chan time.Time, 1)}
	for _, ip := range ips {
		wt.pending[ip] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters = append(w.waiters, wt)
	return wt.at
}

// wait waits for an expect channel; on timeout it says how many events
// of that kind were still missing.
func (w *routeWatch) wait(ch <-chan time.Time, timeout time.Duration) (time.Time, error) {
	select {
	case t := <-ch:
		return t, nil
	case <-time.After(timeout):
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return time.Time{}, w.err
	}
	missing := 0
	for _, wt := range w.waiters {
		if wt.at == ch {
			missing = len(wt.pending)
		}
	}
	// Forget the waiter: a late event must not block later ones.
	keep := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.at != ch {
			keep = append(keep, wt)
		}
	}
	w.waiters = keep
	return time.Time{}, fmt.Errorf("%d route event(s) missing after %v", missing, timeout)
}

// counts returns how many agent route additions and deletions were seen.
func (w *routeWatch) counts() (adds, dels int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.adds, w.dels
}

func (w *routeWatch) close() {
	close(w.stop)
	<-w.done
}
