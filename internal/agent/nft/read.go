package nft

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// readState reads the table back from the kernel into the form plan
// compares. Only the named table of family inet is read.
func readState(c *nftables.Conn, table string) (*state, error) {
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	if _, err := c.ListTableOfFamily(table, nftables.TableFamilyINet); err != nil {
		if isNotExist(err) {
			return emptyState(), nil
		}
		return nil, fmt.Errorf("get table: %w", err)
	}
	st := emptyState()
	st.table = true
	chains, err := tableChains(c, table)
	if err != nil {
		return nil, err
	}
	for _, ch := range chains {
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		cs := &chainState{base: kernelHook(ch), rules: make([]string, 0, len(rules))}
		for _, r := range rules {
			h, _ := udataGet(r.UserData, udataHash)
			cs.rules = append(cs.rules, h)
		}
		st.chains[ch.Name] = cs
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range sets {
		if s.Anonymous || strings.HasPrefix(s.Name, "__") {
			continue // a rule's own anonymous set
		}
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list elements of set %s: %w", s.Name, err)
		}
		ss := &setState{spec: kernelSpec(s)}
		ss.elems, ss.dirty = kernelElems(s, els)
		st.sets[s.Name] = ss
	}
	return st, nil
}

// tableChains lists the chains of one inet table: the kernel dumps those
// of every inet table, and the others are none of ours.
func tableChains(c *nftables.Conn, table string) ([]*nftables.Chain, error) {
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	var out []*nftables.Chain
	for _, ch := range all {
		if ch.Table != nil && ch.Table.Name == table {
			out = append(out, ch)
		}
	}
	return out, nil
}

func kernelHook(ch *nftables.Chain) *Hook {
	if ch.Hooknum == nil {
		return nil
	}
	h := &Hook{Type: string(ch.Type), Hook: hookName(uint32(*ch.Hooknum)), Policy: "accept"}
	if ch.Priority != nil {
		h.Priority = int(*ch.Priority)
	}
	if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
		h.Policy = "drop"
	}
	return h
}

func kernelSpec(s *nftables.Set) setSpec {
	if s.IsMap {
		return setSpec{isMap: true}
	}
	return setSpec{interval: s.Interval, keyType: s.KeyType.GetNFTMagic(), keyLen: s.KeyType.Bytes}
}

// kernelElems turns dumped elements back into sorted spans. An interval
// set dumps a start element per span and an end element one past it
// (none for a span that reaches the top); nft adds an end element at
// zero before the first span, which is no span. dirty reports elements
// that do not pair up, as hand-made overlaps can leave.
func kernelElems(s *nftables.Set, els []nftables.SetElement) (out []elem, dirty bool) {
	if !s.Interval {
		for _, e := range els {
			if len(e.Key) > maxKey {
				return nil, true
			}
			k := newKey(e.Key)
			el := elem{span: span{k, k}}
			if s.IsMap {
				el.val = kernelVerdict(e.Val)
			}
			out = append(out, el)
		}
		slices.SortFunc(out, compareElems)
		return slices.Compact(out), false
	}
	type point struct {
		k   key
		end bool
	}
	pts := make([]point, 0, len(els))
	for _, e := range els {
		if len(e.Key) > maxKey {
			return nil, true
		}
		pts = append(pts, point{newKey(e.Key), e.IntervalEnd})
	}
	slices.SortFunc(pts, func(a, b point) int {
		if c := a.k.compare(b.k); c != 0 {
			return c
		}
		// At one key an end closes the span before the next one opens.
		switch {
		case a.end == b.end:
			return 0
		case a.end:
			return -1
		}
		return 1
	})
	var open *key
	for i := range pts {
		p := pts[i]
		switch {
		case !p.end && open == nil:
			open = &pts[i].k
		case !p.end:
			return nil, true // two starts in a row
		case open != nil:
			if p.k.compare(*open) <= 0 {
				return nil, true
			}
			out = append(out, elem{span: span{*open, p.k.prev()}})
			open = nil
		case len(out) > 0 || !isZero(p.k):
			return nil, true // an end without a start, other than nft's
		}
	}
	if open != nil {
		top := *open
		for i := range int(top.n) {
			top.b[i] = 0xff
		}
		out = append(out, elem{span: span{*open, top}})
	}
	return out, false
}

func isZero(k key) bool {
	for _, b := range k.bytes() {
		if b != 0 {
			return false
		}
	}
	return true
}

// kernelVerdict reads a verdict map element's data back as "jump c" or
// "goto c"; anything else is returned so that it differs from both.
func kernelVerdict(b []byte) string {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return "unreadable"
	}
	ad.ByteOrder = binary.BigEndian
	var code int32
	var chain string
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			code = int32(ad.Uint32())
		case unix.NFTA_VERDICT_CHAIN:
			chain = ad.String()
		}
	}
	switch code {
	case unix.NFT_JUMP:
		return "jump " + chain
	case unix.NFT_GOTO:
		return "goto " + chain
	}
	return fmt.Sprintf("verdict %d", code)
}

// udataGet finds one TLV in user data. userdata.Get in google/nftables
// v0.3.0 can index past the end of malformed data, and a rule made by
// hand may carry anything.
func udataGet(ud []byte, typ userdata.Type) (string, bool) {
	for len(ud) >= 2 {
		t, n := userdata.Type(ud[0]), int(ud[1])
		if len(ud) < 2+n {
			return "", false
		}
		if t == typ {
			return string(ud[2 : 2+n]), true
		}
		ud = ud[2+n:]
	}
	return "", false
}

// Counter is what a rule's counter has seen.
type Counter struct {
	Packets, Bytes uint64
}

// Counters reads the counters of the rules that have one and a comment,
// keyed by comment. Rules in different chains that share a comment are
// added up (a policy rule rendered into several chains counts as one).
//
// When the applier knows the table (it applied it), only its chains
// with such a rule are read, one request each; otherwise the whole
// table is dumped. The read does not hold up Apply.
func (a *Applier) Counters(ctx context.Context) (map[string]Counter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, errClosed
	}
	var chains []string
	if a.synced {
		chains = a.model.countedChains()
	}
	fd := a.nsFd
	if fd != 0 {
		// The read's own duplicate: Close may close the applier's
		// meanwhile.
		var err error
		if fd, err = unix.FcntlInt(uintptr(a.nsFd), unix.F_DUPFD_CLOEXEC, 3); err != nil {
			a.mu.Unlock()
			return nil, fmt.Errorf("nft counters: duplicate namespace fd: %w", err)
		}
		defer unix.Close(fd)
	}
	a.mu.Unlock()
	out, err := readCounters(fd, a.table, chains)
	if err != nil {
		return nil, fmt.Errorf("nft counters: %w", err)
	}
	return out, nil
}
