package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// tableCounts is what table inet calico holds.
type tableCounts struct {
	chains, sets, fromWL, toWL int
	at                         time.Time
}

func (c tableCounts) String() string {
	return fmt.Sprintf("%d chains, %d sets, %d+%d verdict-map elements", c.chains, c.sets, c.fromWL, c.toWL)
}

func (c tableCounts) complete(want tableCounts) bool {
	return c.chains == want.chains && c.sets == want.sets && c.fromWL == want.fromWL && c.toWL == want.toWL
}

// nftConn is a netlink connection to nftables in the namespace at path.
func nftConn(path string) (*nftables.Conn, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd) // the netlink socket is made now, in that namespace
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", path, err)
	}
	return c, nil
}

// readTable counts table inet calico's chains, sets and verdict-map
// elements; ok is false when there is no such table.
func readTable(c *nftables.Conn) (tc tableCounts, ok bool, err error) {
	t, err := c.ListTableOfFamily(calicoTable, nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return tc, false, nil
		}
		return tc, false, err
	}
	tc.at = time.Now()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return tc, false, err
	}
	for _, ch := range chains {
		if ch.Table.Name == calicoTable {
			tc.chains++
		}
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return tc, false, err
	}
	for _, s := range sets {
		if s.Anonymous {
			continue
		}
		tc.sets++
		if s.Name == "from-wl" || s.Name == "to-wl" {
			els, err := c.GetSetElements(s)
			if err != nil {
				return tc, false, err
			}
			if s.Name == "from-wl" {
				tc.fromWL = len(els)
			} else {
				tc.toWL = len(els)
			}
		}
	}
	return tc, true, nil
}

// waitTable polls the table every 5 ms (calling also, when given, each
// time) until it is complete (equal to p.want; with p.want unset, until
// the agent is ready and two reads agree). at is the time the complete
// table was first seen to exist.
func (p *policyLab) waitTable(also func(), timeout time.Duration) tableCounts {
	b := p.b
	c, err := nftConn(p.nsPath)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseLasting()
	deadline := time.Now().Add(timeout)
	var prev tableCounts
	for {
		if also != nil {
			also()
		}
		tc, ok, err := readTable(c)
		if err != nil {
			b.Fatalf("reading table inet calico: %v", err)
		}
		if ok {
			if p.want.chains > 0 && tc.complete(p.want) {
				return tc
			}
			if p.want.chains == 0 && tc.complete(prev) && p.ready() {
				return tc
			}
			prev = tc
		}
		if time.Now().After(deadline) {
			b.Fatalf("table inet calico: %s (exists %v) after %v; want %s", tc, ok, timeout, p.want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deleteTable deletes the agent's table in the host namespace (never the
// root namespace: the connection is made in the lab's).
func (p *policyLab) deleteTable() error {
	c, err := nftConn(p.nsPath)
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	c.DelTable(&nftables.Table{Name: calicoTable, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table inet calico: %w", err)
	}
	return nil
}

// --- nftables events ---

// nftWatch follows nftables netlink events in a namespace and tells
// waiters when events matching all of their predicates were seen; the
// time is that of the transaction (NEWGEN) holding the last of them, as
// read by this process.
type nftWatch struct {
	conn *nftables.Conn
	mon  *nftables.Monitor
	done chan struct{}

	mu      sync.Mutex
	waiters []*nftWaiter
	err     error
}

type nftPred func(*nftables.MonitorEvent) bool

type nftWaiter struct {
	pending []nftPred
	at      chan time.Time
}

func watchNFT(path string) (*nftWatch, error) {
	// Not a lasting connection: the monitor's own socket is closed by
	// Monitor.Close only then. It is made in the namespace by
	// AddGenerationalMonitor, while fd is open.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", path, err)
	}
	w := &nftWatch{conn: c, done: make(chan struct{})}
	w.mon = nftables.NewMonitor(nftables.WithMonitorEventBuffer(4096),
		nftables.WithMonitorObject(nftables.MonitorObjectChains|nftables.MonitorObjectRules|nftables.MonitorObjectElements))
	ch, err := c.AddGenerationalMonitor(w.mon)
	if err != nil {
		return nil, fmt.Errorf("nftables monitor: %w", err)
	}
	go w.run(ch)
	return w, nil
}

func (w *nftWatch) run(ch chan *nftables.MonitorEvents) {
	defer close(w.done)
	for evs := range ch {
		now := time.Now()
		w.mu.Lock()
		if g := evs.GeneratedBy; g != nil && g.Type == nftables.MonitorEventTypeOOB && g.Error != nil && w.err == nil {
			w.err = g.Error
		}
		keep := w.waiters[:0]
		for _, wt := range w.waiters {
			for _, ev := range evs.Changes {
				if ev.Error != nil {
					continue
				}
				for i, pr := range wt.pending {
					if pr(ev) {
						wt.pending = slices.Delete(wt.pending, i, i+1)
						break
					}
				}
			}
			if len(wt.pending) == 0 {
				wt.at <- now
				continue
			}
			keep = append(keep, wt)
		}
		w.waiters = keep
		w.mu.Unlock()
	}
}

// expect registers a waiter; register before the write.
func (w *nftWatch) expect(preds ...nftPred) <-chan time.Time {
	wt := &nftWaiter{pending: preds, at: make(chan time.Time, 1)}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters = append(w.waiters, wt)
	return wt.at
}

func (w *nftWatch) wait(ch <-chan time.Time, timeout time.Duration) (time.Time, error) {
	select {
	case t := <-ch:
		return t, nil
	case <-time.After(timeout):
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	missing := -1
	keep := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.at == ch {
			missing = len(wt.pending)
			continue
		}
		keep = append(keep, wt)
	}
	w.waiters = keep
	if w.err != nil {
		return time.Time{}, fmt.Errorf("nftables events: %w", w.err)
	}
	return time.Time{}, fmt.Errorf("%d nftables event(s) missing after %v", missing, timeout)
}

func (w *nftWatch) close() {
	w.mon.Close()
	<-w.done
}

func chainEvent(t nftables.MonitorEventType, name string) nftPred {
	return func(ev *nftables.MonitorEvent) bool {
		c, ok := ev.Data.(*nftables.Chain)
		return ev.Type == t && ok && c.Name == name && c.Table != nil && c.Table.Name == calicoTable
	}
}

// elemEvent matches a new set or map element with key key (an
// interface name's key is zero-padded).
func elemEvent(key []byte) nftPred {
	return func(ev *nftables.MonitorEvent) bool {
		els, ok := ev.Data.([]nftables.SetElement)
		if ev.Type != nftables.MonitorEventTypeNewSetElem || !ok {
			return false
		}
		for _, e := range els {
			if !e.IntervalEnd && bytes.Equal(bytes.TrimRight(e.Key, "\x00"), bytes.TrimRight(key, "\x00")) && len(e.Key) >= len(key) {
				return true
			}
		}
		return false
	}
}

func ifnameKey(name string) []byte { return []byte(name) }

// ruleWithPort matches a new rule in chain that compares a port with
// port (a single port compiles to a cmp).
func ruleWithPort(chain string, port uint16) nftPred {
	want := binary.BigEndian.AppendUint16(nil, port)
	return func(ev *nftables.MonitorEvent) bool {
		r, ok := ev.Data.(*nftables.Rule)
		if ev.Type != nftables.MonitorEventTypeNewRule || !ok || r.Chain == nil || r.Chain.Name != chain {
			return false
		}
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Cmp); ok && bytes.Equal(c.Data, want) {
				return true
			}
		}
		return false
	}
}

// --- datapath ---
