package nft

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// elemChunkBytes bounds the elements of one message: they sit in one
// netlink attribute, whose length is 16 bits.
const elemChunkBytes = 48 << 10

// execute queues ops as one batch and sends it. It returns the number of
// messages sent.
func (a *Applier) execute(ctx context.Context, ops []op, want *desired) (int, error) {
	b, err := a.newBatch()
	if err != nil {
		return 0, err
	}
	for _, o := range ops {
		if err := b.queue(o, want); err != nil {
			// Nothing was sent: the batch's Conn is dropped with it.
			return 0, fmt.Errorf("%s: %w", o, err)
		}
	}
	return b.flush(ctx, a.tr)
}

func (b *batch) nextID() uint32 {
	b.ids++
	return b.ids
}

func (b *batch) chain(name string) *nftables.Chain {
	return &nftables.Chain{Table: b.table, Name: name}
}

func (b *batch) queue(o op, want *desired) error {
	switch o.kind {
	case opAddTable:
		b.conn.AddTable(b.table)
		b.queued("add table " + b.table.Name)
	case opFlushChain:
		b.conn.FlushChain(b.chain(o.name))
		b.queued("flush chain " + o.name)
	case opDelChain:
		b.conn.DelChain(b.chain(o.name))
		b.queued("delete chain " + o.name)
	case opDelSet:
		b.conn.DelSet(&nftables.Set{Table: b.table, Name: o.name})
		b.queued("delete set " + o.name)
	case opFlushSet:
		b.conn.FlushSet(&nftables.Set{Table: b.table, Name: o.name})
		b.queued("flush set " + o.name)
	case opAddChain:
		return b.addChain(o.name, want.rs.Chains[o.name])
	case opAddSet:
		s, err := b.setFor(o.name, want)
		if err != nil {
			return err
		}
		s.ID = b.nextID()
		if err := b.conn.AddSet(s, nil); err != nil {
			return err
		}
		b.queued("add set " + o.name)
	case opAddElems, opDelElems:
		s, err := b.setFor(o.name, want)
		if err != nil {
			return err
		}
		return b.elements(s, o.kind == opDelElems, o.elems)
	case opAddRules:
		return b.addRules(o.name, want)
	default:
		return fmt.Errorf("unknown op %d", o.kind)
	}
	return nil
}

func (b *batch) addChain(name string, c *Chain) error {
	nc := b.chain(name)
	if h := normHook(c.Base); h != nil {
		num := nftables.ChainHook(hookNums[h.Hook])
		prio := nftables.ChainPriority(h.Priority)
		pol := nftables.ChainPolicyAccept
		if h.Policy == "drop" {
			pol = nftables.ChainPolicyDrop
		}
		nc.Hooknum, nc.Priority, nc.Type, nc.Policy = &num, &prio, nftables.ChainType(h.Type), &pol
	}
	b.conn.AddChain(nc)
	b.queued("add chain " + name)
	return nil
}

// setFor describes a wanted set or map to google/nftables.
func (b *batch) setFor(name string, want *desired) (*nftables.Set, error) {
	st, ok := want.sets[name]
	if !ok {
		return nil, fmt.Errorf("set %q is not in the ruleset", name)
	}
	s := &nftables.Set{Table: b.table, Name: name}
	// nft reads the key's byte order from the set's user data to print
	// elements: interface names are host order, the rest network order.
	s.KeyByteOrder = binaryutil.BigEndian
	if st.spec.isMap {
		s.IsMap, s.KeyType, s.DataType = true, nftables.TypeIFName, nftables.TypeVerdict
		s.KeyByteOrder = binaryutil.NativeEndian
		return s, nil
	}
	set := want.rs.Sets[name]
	if set == nil {
		return nil, fmt.Errorf("set %q is not in the ruleset", name)
	}
	dt, err := datatype(set.Type)
	if err != nil {
		return nil, err
	}
	s.KeyType, s.Interval = dt, st.spec.interval
	if set.Type == TypeIfname {
		s.KeyByteOrder = binaryutil.NativeEndian
	}
	return s, nil
}

// elements queues element adds or deletes in messages of bounded size.
func (b *batch) elements(s *nftables.Set, del bool, elems []elem) error {
	verb := "add"
	if del {
		verb = "delete"
	}
	var chunk []nftables.SetElement
	size, first := 0, 0
	send := func(last int) error {
		if len(chunk) == 0 {
			return nil
		}
		var err error
		if del {
			err = b.conn.SetDeleteElements(s, chunk)
		} else {
			err = b.conn.SetAddElements(s, chunk)
		}
		if err != nil {
			return err
		}
		b.queued(fmt.Sprintf("%s elements %d-%d of %d in %s", verb, first+1, last, len(elems), s.Name))
		chunk, size, first = nil, 0, last
		return nil
	}
	for i, e := range elems {
		n := len(chunk)
		chunk = appendSpanElements(chunk, e.span, s.Interval)
		for j := n; j < len(chunk); j++ {
			if s.IsMap {
				chunk[j].VerdictData = mapVerdict(e.val)
			}
			size += elementSize(chunk[j])
		}
		if size >= elemChunkBytes {
			if err := send(i + 1); err != nil {
				return err
			}
		}
	}
	return send(len(elems))
}

// elementSize estimates an element's encoded size, generously.
func elementSize(e nftables.SetElement) int {
	n := 24 + len(e.Key)
	if e.IntervalEnd {
		n += 8
	}
	if e.VerdictData != nil {
		n += 32 + len(e.VerdictData.Chain)
	}
	return n
}

// mapVerdict turns a map element's "jump c" or "goto c" back into a
// verdict.
func mapVerdict(val string) *expr.Verdict {
	kind, chain, _ := strings.Cut(val, " ")
	k := expr.VerdictJump
	if kind == "goto" {
		k = expr.VerdictGoto
	}
	return &expr.Verdict{Kind: k, Chain: chain}
}

// addRules compiles a chain's rules and queues them with the anonymous
// sets they use.
func (b *batch) addRules(name string, want *desired) error {
	c := want.rs.Chains[name]
	hashes := want.chains[name].rules
	rb := newRuleBuilder(want.rs)
	rb.exprs, rb.table, rb.ids = true, b.table, &b.ids
	for i := range c.Rules {
		r := &c.Rules[i]
		rb.reset()
		br, err := rb.build(r)
		if err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		what := fmt.Sprintf("chain %s rule %d", name, i)
		if r.Comment != "" {
			what += fmt.Sprintf(" (%s)", r.Comment)
		}
		for _, as := range br.anon {
			if err := b.anonSet(as, what); err != nil {
				return fmt.Errorf("rule %d: %w", i, err)
			}
		}
		if err := b.addRule(name, br.exprs, ruleUserData(r.Comment, hashes[i])); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		b.desc = append(b.desc, "add "+what)
	}
	return nil
}

// addRule puts a rule on the wire, after what the Conn holds (the
// anonymous sets it uses), each expression marshalled once.
func (b *batch) addRule(chain string, exprs []expr.Any, userData []byte) error {
	b.drain()
	b.begin()
	b.exprBuf = b.exprBuf[:0]
	for _, e := range exprs {
		m, err := expr.Marshal(byte(b.table.Family), e)
		if err != nil {
			return err
		}
		b.exprBuf = append(b.exprBuf, m)
	}
	err := b.wire.addRule(byte(b.table.Family), b.table.Name, chain, b.exprBuf, userData)
	clear(b.exprBuf)
	return err
}

func (b *batch) anonSet(as anonSet, what string) error {
	size := 0
	for _, e := range as.elems {
		size += elementSize(e)
	}
	if size < elemChunkBytes {
		if err := b.conn.AddSet(as.set, as.elems); err != nil {
			return err
		}
		b.queued("add anonymous set for "+what, 2)
		return nil
	}
	if err := b.conn.AddSet(as.set, nil); err != nil {
		return err
	}
	b.queued("add anonymous set for " + what)
	// google/nftables refuses element updates of anonymous sets; within
	// the batch that creates it the kernel finds the set by ID.
	named := *as.set
	named.Anonymous = false
	var chunk []nftables.SetElement
	size = 0
	for i, e := range as.elems {
		chunk = append(chunk, e)
		size += elementSize(e)
		if size >= elemChunkBytes || i == len(as.elems)-1 {
			if err := b.conn.SetAddElements(&named, chunk); err != nil {
				return err
			}
			b.queued("add anonymous set elements for " + what)
			chunk, size = nil, 0
		}
	}
	return nil
}
