package nft

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

var _ transport = (*fakeTransport)(nil)

// fakeTransport takes batches without a kernel, for tests and benchmarks
// that do not run as root. It keeps what was sent as one line per
// message ("newsetelem", "newrule", ...), and can refuse a message the
// way the kernel refuses a whole transaction.
type fakeTransport struct {
	batches [][]string
	// fail, when set, is asked about every message; an error fails the
	// transaction.
	fail func(i int, kind string) error
}

func (f *fakeTransport) close() error { return nil }

func (f *fakeTransport) send(_ context.Context, w *wire) (map[int]error, error) {
	kinds := make([]string, 0, w.n)
	var failed map[int]error
	w.each(func(i int, m []byte) {
		k := msgKind(msgType(m))
		kinds = append(kinds, k)
		if f.fail != nil {
			if err := f.fail(i, k); err != nil {
				if failed == nil {
					failed = map[int]error{}
				}
				failed[i] = err
			}
		}
	})
	if len(kinds) < 2 || kinds[0] != "batch-begin" || kinds[len(kinds)-1] != "batch-end" {
		return nil, fmt.Errorf("fake: not a batch: %v", kinds)
	}
	f.batches = append(f.batches, kinds[1:len(kinds)-1])
	return failed, nil
}

var msgKinds = map[int]string{
	unix.NFT_MSG_NEWTABLE: "newtable", unix.NFT_MSG_DELTABLE: "deltable",
	unix.NFT_MSG_NEWCHAIN: "newchain", unix.NFT_MSG_DELCHAIN: "delchain",
	unix.NFT_MSG_NEWRULE: "newrule", unix.NFT_MSG_DELRULE: "delrule",
	unix.NFT_MSG_NEWSET: "newset", unix.NFT_MSG_DELSET: "delset",
	unix.NFT_MSG_NEWSETELEM: "newsetelem", unix.NFT_MSG_DELSETELEM: "delsetelem",
}

func msgKind(typ uint16) string {
	switch t := int(typ); t {
	case unix.NFNL_MSG_BATCH_BEGIN:
		return "batch-begin"
	case unix.NFNL_MSG_BATCH_END:
		return "batch-end"
	default:
		if k, ok := msgKinds[t&0xff]; ok && t>>8 == unix.NFNL_SUBSYS_NFTABLES {
			return k
		}
		return fmt.Sprintf("type-%#x", t)
	}
}

// fakeKernel stands in for the kernel one level above messages: it
// carries out planned ops on a state, all or nothing, refusing what the
// kernel would refuse (a chain deleted while it has rules or a map leads
// to it, an element added twice or deleted when missing, overlapping
// intervals, rules added to a chain that was not emptied), and its state
// is what a read finds. Tests tamper with st to play an admin at work.
type fakeKernel struct {
	st *state
	// uses: the sets and maps each chain's rules name.
	uses    map[string][]string
	batches int
	// refuse, when set, is asked about every op of a transaction; an
	// error refuses the transaction, as the kernel does.
	refuse func(o op, want *desired) error
}

func newFakeKernel() *fakeKernel { return &fakeKernel{st: emptyState(), uses: map[string][]string{}} }

func (k *fakeKernel) read() (*state, error) { return cloneState(k.st), nil }

func (k *fakeKernel) exec(_ context.Context, ops []op, want *desired) (int, error) {
	st, uses := cloneState(k.st), maps.Clone(k.uses)
	for _, o := range ops {
		if err := st.apply(o, want, uses); err != nil {
			return 0, rejected{fmt.Errorf("fake kernel: %s: %w", o, err)}
		}
		if k.refuse != nil {
			if err := k.refuse(o, want); err != nil {
				return 0, rejected{fmt.Errorf("fake kernel: %s: %w", o, err)}
			}
		}
	}
	k.st, k.uses = st, uses
	k.batches++
	return len(ops), nil
}

func (st *state) apply(o op, want *desired, uses map[string][]string) error {
	if o.kind == opAddTable {
		st.table = true
		return nil
	}
	if !st.table {
		return unix.ENOENT
	}
	c, s := st.chains[o.name], st.sets[o.name]
	switch o.kind {
	case opAddChain, opAddSet:
		if c != nil || s != nil {
			return unix.EEXIST
		}
	case opFlushChain, opDelChain, opAddRules:
		if c == nil {
			return unix.ENOENT
		}
	default:
		if s == nil {
			return unix.ENOENT
		}
	}
	switch o.kind {
	case opFlushChain:
		c.rules = nil
		delete(uses, o.name)
	case opDelChain:
		if len(c.rules) > 0 || st.leadsTo(o.name) {
			return unix.EBUSY
		}
		delete(st.chains, o.name)
	case opAddChain:
		st.chains[o.name] = &chainState{base: want.chains[o.name].base}
	case opAddRules:
		if len(c.rules) > 0 {
			return fmt.Errorf("rules added to a chain that has %d", len(c.rules))
		}
		c.rules = slices.Clone(want.chains[o.name].rules)
		uses[o.name] = want.refs[o.name]
	case opDelSet:
		for _, refs := range uses {
			if slices.Contains(refs, o.name) {
				return unix.EBUSY
			}
		}
		delete(st.sets, o.name)
	case opAddSet:
		st.sets[o.name] = &setState{spec: want.sets[o.name].spec}
	case opFlushSet:
		s.elems, s.dirty = nil, false
	case opDelElems:
		for _, e := range o.elems {
			i, ok := slices.BinarySearchFunc(s.elems, e.span, func(x elem, sp span) int { return x.span.compare(sp) })
			if !ok {
				return unix.ENOENT
			}
			s.elems = slices.Delete(s.elems, i, i+1)
		}
	case opAddElems:
		for _, e := range o.elems {
			i, ok := slices.BinarySearchFunc(s.elems, e.span, func(x elem, sp span) int { return x.span.compare(sp) })
			if ok {
				return unix.EEXIST
			}
			if e.val != "" {
				if _, ok := st.chains[strings.TrimPrefix(strings.TrimPrefix(e.val, "jump "), "goto ")]; !ok {
					return unix.ENOENT
				}
			}
			s.elems = slices.Insert(s.elems, i, e)
		}
		for i := 1; s.spec.interval && i < len(s.elems); i++ {
			if s.elems[i].lo.compare(s.elems[i-1].hi) <= 0 {
				return unix.EEXIST
			}
		}
	default:
		return fmt.Errorf("unknown op %d", o.kind)
	}
	return nil
}

// leadsTo reports whether a map element jumps or goes to chain.
func (st *state) leadsTo(chain string) bool {
	for _, s := range st.sets {
		for _, e := range s.elems {
			if e.val == "jump "+chain || e.val == "goto "+chain {
				return true
			}
		}
	}
	return false
}

// cloneState copies s as a read from the kernel would find it: equal
// content in new objects.
func cloneState(s *state) *state {
	out := emptyState()
	out.table = s.table
	for n, c := range s.chains {
		cc := *c
		cc.rules = slices.Clone(c.rules)
		out.chains[n] = &cc
	}
	for n, st := range s.sets {
		cs := *st
		cs.elems = slices.Clone(st.elems)
		out.sets[n] = &cs
	}
	return out
}

// dump prints st one line per chain and set, sorted, for tests to
// compare whole: rules by the start of their hashes, elements as keys.
func (st *state) dump() string {
	if !st.table {
		return "no table\n"
	}
	var b strings.Builder
	for _, name := range sortedKeys(st.chains) {
		c := st.chains[name]
		fmt.Fprintf(&b, "chain %s", name)
		if h := c.base; h != nil {
			fmt.Fprintf(&b, " {%s %s %d %s}", h.Type, h.Hook, h.Priority, h.Policy)
		}
		for _, r := range c.rules {
			fmt.Fprintf(&b, " %x", r[:min(3, len(r))])
		}
		b.WriteByte('\n')
	}
	for _, name := range sortedKeys(st.sets) {
		s := st.sets[name]
		fmt.Fprintf(&b, "set %s %+v", name, s.spec)
		for _, e := range s.elems {
			fmt.Fprintf(&b, " %x", e.lo.bytes())
			if e.hi != e.lo {
				fmt.Fprintf(&b, "-%x", e.hi.bytes())
			}
			if e.val != "" {
				fmt.Fprintf(&b, ":%s", e.val)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
