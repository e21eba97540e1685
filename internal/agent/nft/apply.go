package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Applier makes the kernel's copy of one inet table equal to a Ruleset.
// Apply may be called again and again with the same ruleset; it writes
// only what differs from what it last applied, in one transaction.
//
// It is safe for concurrent use, though one goroutine should own it.
type Applier struct {
	table string
	log   *slog.Logger
	nsFd  int

	mu sync.Mutex
	// model is the last ruleset built, object by object.
	model *model
	// synced: the kernel's table is known to hold the model, so that an
	// Apply need only look at what changed. It is false at the start and
	// after Resync, Delete or a failed Apply: the next Apply then compares
	// the whole table with kernel, what the kernel is known to hold, or
	// when that is nil (always but after Delete), with the table read
	// back.
	synced bool
	kernel *state
	stats  Stats
	closed bool

	// Seams for tests: where batches go, where reads come from, and
	// what carries out a plan (execute, unless a test models the kernel
	// at the level of ops).
	tr   transport
	read func() (*state, error)
	exec func(ctx context.Context, ops []op, want *desired) (msgs int, err error)
}

// Stats counts the applier's work, for tests and benchmarks.
type Stats struct {
	Batches int // transactions sent
	Ops     int // planned operations in them
	Msgs    int // netlink messages in them
	Reads   int // full reads of the table from the kernel
}

// Option configures an Applier.
type Option func(*Applier)

// WithNetNSFd makes the applier work in the network namespace that fd
// refers to, instead of the caller's. The applier keeps its own
// duplicate of fd, so the caller may close fd at any time.
func WithNetNSFd(fd int) Option {
	return func(a *Applier) { a.nsFd = fd }
}

// NewApplier returns an applier for the inet table named table. Close it
// when done with it.
func NewApplier(table string, log *slog.Logger, opts ...Option) (*Applier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Applier{table: table, log: log.With("table", table), model: newModel()}
	for _, o := range opts {
		o(a)
	}
	if a.nsFd != 0 {
		fd, err := ownNetNS(a.nsFd)
		if err != nil {
			return nil, err
		}
		a.nsFd = fd
	}
	a.tr = &nlTransport{nsFd: a.nsFd, timeout: time.Minute}
	a.exec = a.execute
	a.read = func() (st *state, err error) {
		err = a.withReadConn(func(c *nftables.Conn) error {
			st, err = readState(c, a.table)
			return err
		})
		return st, err
	}
	return a, nil
}

// ownNetNS checks that fd is a network namespace and returns a duplicate
// the applier owns.
//
// Why a duplicate: the netlink libraries enter the namespace on a
// helper thread, opening the thread's own namespace first to go back to
// it. Were fd closed by its owner, that open could get the same number,
// and the "namespace" entered would be the caller's own: the root one,
// for an agent. An fd only the applier closes cannot be reused so.
func ownNetNS(fd int) (int, error) {
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return 0, fmt.Errorf("nft: fd %d is not a namespace: %w", fd, err)
	}
	if typ != unix.CLONE_NEWNET {
		return 0, fmt.Errorf("nft: fd %d is not a network namespace", fd)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return 0, fmt.Errorf("nft: duplicate namespace fd %d: %w", fd, err)
	}
	return dup, nil
}

// Close releases the applier's namespace fd. It does not touch the
// table; see Delete. The applier cannot be used afterwards.
func (a *Applier) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	a.synced, a.kernel = false, nil
	err := a.tr.close()
	if a.nsFd != 0 {
		err = errors.Join(err, unix.Close(a.nsFd))
	}
	return err
}

var errClosed = errors.New("nft: applier is closed")

// ErrRejected is wrapped by Apply's error when the ruleset was refused
// for its content, by the applier's checks or by the kernel, and nothing
// was applied: the table is as it was, and the applier still knows what
// it holds (the next Apply reads nothing back for it). Without it, an
// error says nothing of the ruleset (the table could not be read, the
// outcome is unknown).
var ErrRejected = errors.New("ruleset rejected")

// rejected marks err as ErrRejected without changing its message.
type rejected struct{ err error }

func (r rejected) Error() string   { return r.err.Error() }
func (r rejected) Unwrap() []error { return []error{r.err, ErrRejected} }

// withReadConn runs f with a connection for dumps: one socket for the
// whole pass, since entering the namespace for each of a thousand chains
// costs more than reading them, and closed after it, so that a reply
// left over from a failed request cannot confuse the next pass.
func (a *Applier) withReadConn(f func(c *nftables.Conn) error) error {
	c, err := nftables.New(nftables.WithNetNSFd(a.nsFd), nftables.AsLasting())
	if err != nil {
		return fmt.Errorf("netlink dial: %w", err)
	}
	defer c.CloseLasting()
	return f(c)
}

// Stats returns the counters so far.
func (a *Applier) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Resync makes the next Apply read the table back from the kernel and
// repair whatever differs, such as a rule deleted by hand: it compares
// every object, including those whose pointers have not changed.
func (a *Applier) Resync() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.synced, a.kernel = false, nil
}

// Apply makes the table equal to rs, in one transaction. On error the
// kernel is unchanged (the transaction is atomic) or, when the outcome
// is unknown, the next Apply reads the table back. ctx is checked before
// any work and bounds the wait for the kernel's answer.
//
// Apply's work is proportional to what changed since the last Apply, not
// to the size of rs, provided the caller keeps to this contract: a
// *Chain, *Set or *Map handed to Apply is never modified afterwards, and
// is handed over again, the same pointer, for as long as it does not
// change; a change is a new object (the Ruleset and its maps may be new
// every time). An object whose pointer was in the last Apply costs a map
// lookup: it is not hashed, built or compared again. A new object is
// compared with the one it replaces: a chain by fingerprint, a set or
// map element by element (a new object with the same content writes
// nothing). Modifying an applied object in place breaks this: the change
// may never reach the kernel. With rs.Changes that follow the ruleset
// applied before, even the lookups are skipped: only the objects they
// name are compared, so the work no longer grows with the table.
//
// After Resync, Delete or an Apply whose outcome is unknown, the next
// Apply compares the whole table, as read back from the kernel, with the
// whole ruleset, whatever the pointers. After an Apply that was rejected
// (ErrRejected) nothing is read back: the kernel holds what it held.
func (a *Applier) Apply(ctx context.Context, rs *Ruleset) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rs != nil && rs.Table != a.table {
		return fmt.Errorf("nft apply: ruleset is for table %q, applier for %q", rs.Table, a.table)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errClosed
	}
	ch, err := a.model.build(rs)
	if err != nil {
		return fmt.Errorf("nft apply: invalid ruleset: %w", rejected{err})
	}
	var ops []op
	var want *desired
	// old is what the kernel holds, or when synced the part of it that
	// changes.
	var old *state
	synced := a.synced
	if synced {
		// The kernel holds the model: only what changes is planned. The
		// model takes the ruleset once the kernel has.
		old, want = a.model.partial(ch)
		ops = plan(old, want)
	} else {
		// The model is a build cache as much as a record: it takes the
		// ruleset now, whatever becomes of the transaction.
		a.model.commit(ch)
		want = a.model.desired(rs)
		old = a.kernel
		if old == nil {
			old, err = a.read()
			if err != nil {
				return fmt.Errorf("nft apply: read table %s: %w", a.table, err)
			}
			a.stats.Reads++
			a.log.Debug("read table back", "chains", len(old.chains), "sets", len(old.sets), "exists", old.table)
		}
		ops = plan(old, want)
	}
	if len(ops) == 0 {
		if synced {
			a.model.commit(ch)
		}
		a.synced, a.kernel = true, nil
		return nil
	}
	// Until the batch is known to have been applied, nothing is known.
	a.synced, a.kernel = false, nil
	start := time.Now()
	msgs, err := a.exec(ctx, ops, want)
	if err != nil {
		if errors.Is(err, ErrRejected) {
			// Refused as a whole: the kernel holds what it held, the
			// model (when synced) or old.
			if synced {
				a.synced = true
			} else {
				a.kernel = old
			}
		}
		return fmt.Errorf("nft apply: %w", err)
	}
	if synced {
		a.model.commit(ch)
	}
	a.synced = true
	a.stats.Batches++
	a.stats.Ops += len(ops)
	a.stats.Msgs += msgs
	a.log.Info("applied", "ops", len(ops), "messages", msgs, "took", time.Since(start))
	a.log.Debug("applied ops", "plan", planString(ops))
	return nil
}

// Delete removes the table. A table already gone is not an error.
func (a *Applier) Delete(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errClosed
	}
	a.synced, a.kernel = false, nil
	b, err := a.newBatch()
	if err != nil {
		return err
	}
	b.conn.DelTable(b.table)
	b.queued("delete table " + a.table)
	if _, err := b.flush(ctx, a.tr); err != nil {
		if isNotExist(err) {
			a.kernel = emptyState()
			return nil
		}
		return fmt.Errorf("nft delete: %w", err)
	}
	a.kernel = emptyState()
	a.stats.Batches++
	return nil
}

// batch collects one transaction's messages, with what each is for so
// that a kernel error can be reported against it.
//
// google/nftables builds the messages into its Conn; every drainEvery
// of them, and before a rule, the batch takes them out (by a Flush to
// the capture) and copies them onto the wire, so that each exists in
// full only there. Rules, the bulk of a batch, go onto the wire
// directly (see addRule).
type batch struct {
	conn    *nftables.Conn
	table   *nftables.Table
	cap     *capture
	wire    wire
	pending int      // messages queued in conn, not yet on the wire
	err     error    // the first error building them
	exprBuf [][]byte // a rule's marshalled expressions (see addRule)
	desc    []string
	ids     uint32
}

// drainEvery is small because a message of set elements may be 48 KiB:
// a Flush of the (lasting) Conn costs little.
const drainEvery = 16

func (a *Applier) newBatch() (*batch, error) {
	b := &batch{table: &nftables.Table{Name: a.table, Family: nftables.TableFamilyINet}}
	b.cap = &capture{send: b.take}
	c, err := b.cap.conn()
	if err != nil {
		return nil, fmt.Errorf("nftables conn: %w", err)
	}
	b.conn = c
	return b, nil
}

// take puts the messages of one Flush of the Conn on the wire, but for
// its batch markers: the batch has one pair.
func (b *batch) take(msgs []netlink.Message) {
	if len(msgs) < 2 {
		return
	}
	b.begin()
	for i := 1; i < len(msgs)-1; i++ {
		b.wire.add(&msgs[i])
	}
}

// begin starts the batch on the wire, once.
func (b *batch) begin() {
	if b.wire.n == 0 {
		b.wire.add(&batchMarkers[0])
	}
}

// batchMarkers are BATCH_BEGIN and BATCH_END for nf_tables, as
// google/nftables makes them.
var batchMarkers = [2]netlink.Message{
	{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_BEGIN, Flags: netlink.Request}, Data: []byte{0, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}},
	{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_END, Flags: netlink.Request}, Data: []byte{0, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}},
}

func (b *batch) queued(desc string, n ...int) {
	k := 1
	if len(n) > 0 {
		k = n[0]
	}
	for range k {
		b.desc = append(b.desc, desc)
	}
	if b.pending += k; b.pending >= drainEvery {
		b.drain()
	}
}

// drain moves the Conn's messages to the wire. An error in building
// them is kept by the Conn, and reported by flush.
func (b *batch) drain() {
	if b.pending == 0 {
		return
	}
	b.pending = 0
	if err := b.conn.Flush(); err != nil && b.err == nil {
		b.err = err
	}
}

// flush sends the batch through tr and returns how many messages it had.
func (b *batch) flush(ctx context.Context, tr transport) (int, error) {
	b.pending++ // whatever the count, drain what is left
	b.drain()
	if b.err != nil {
		return 0, fmt.Errorf("build batch: %w", b.err)
	}
	if b.wire.n == 0 {
		return 0, nil
	}
	b.wire.add(&batchMarkers[1])
	n := b.wire.n - 2
	failed, err := tr.send(ctx, &b.wire)
	var errs []error
	for i := 1; i < b.wire.n-1; i++ {
		e, ok := failed[i]
		if !ok {
			continue
		}
		what := fmt.Sprintf("message %d", i)
		if len(b.desc) == n {
			what = b.desc[i-1]
		}
		errs = append(errs, fmt.Errorf("%s: %w", what, e))
	}
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case err != nil:
		return n, fmt.Errorf("transaction of %d messages, outcome unknown: %w", n, errors.Join(errs...))
	case len(errs) > 0:
		// No count of messages: the error of one object must read the
		// same whatever else was in the transaction.
		return n, rejected{fmt.Errorf("transaction failed, nothing applied: %w", errors.Join(errs...))}
	}
	return n, nil
}

func isNotExist(err error) bool { return errors.Is(err, unix.ENOENT) }

// ruleUserData is the rule's comment, which nft shows, and the content
// hash that lets a resync tell an intact rule from a changed one.
func ruleUserData(comment, hash string) []byte {
	var ud []byte
	if comment != "" {
		ud = userdata.AppendString(ud, userdata.TypeComment, comment)
	}
	return userdata.Append(ud, udataHash, []byte(hash))
}

// udataHash is the user data type of the content hash. nft ignores
// types it does not know (its own are 0 and 1).
const udataHash userdata.Type = 0xc5
