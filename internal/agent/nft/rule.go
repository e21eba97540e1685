package nft

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// ruleBuilder turns one Rule into its nft text or, when exprs is set,
// its expressions (the text was hashed when the ruleset was built, and
// is not joined again). Both come out of one walk over the matches so
// that what Render prints and what the kernel gets cannot drift apart.
//
// The walk mirrors nft's protocol dependencies. An address match needs
// `meta nfproto`, an ICMP match `meta l4proto icmp`; the compiler adds
// them only when an earlier match does not already ensure them, as nft
// does. And nft, when it lists a rule, leaves out an explicit `meta
// nfproto ipv4` or `meta l4proto tcp` that a later match relies on (and
// then names the transport header: `th dport` after `meta l4proto tcp`
// lists as `tcp dport`). Render does the same so that it equals the
// listing; the hidden parts stay in the text that is hashed.
type ruleBuilder struct {
	rs *Ruleset // for the sets, maps and chains a rule names

	exprs bool
	table *nftables.Table
	ids   *uint32 // set IDs, unique within one batch

	parts []part
	out   []expr.Any
	anon  []anonSet

	nf    int // nfproto the rule is known to match (4 or 6), or 0
	nfDep int // index in parts of a hideable `meta nfproto`, or -1
	l4    int // l4proto the rule is known to match, or -1
	l4Dep int // index in parts of a hideable `meta l4proto`, or -1
}

type part struct {
	text   string
	hidden bool
}

// anonSet is an anonymous set a rule needs, created in the same batch.
type anonSet struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

// builtRule is the result for one rule.
type builtRule struct {
	text    string // as nft lists it; not when compiling expressions
	verbose string // with the hidden dependencies, for the content hash; ditto
	exprs   []expr.Any
	anon    []anonSet
}

func newRuleBuilder(rs *Ruleset) *ruleBuilder {
	return &ruleBuilder{rs: rs, nfDep: -1, l4Dep: -1, l4: -1}
}

// reset readies b for another rule, keeping its arrays: a builtRule it
// returned is not to be used afterwards.
func (b *ruleBuilder) reset() {
	clear(b.out) // let go of the last rule's expressions
	b.parts, b.out, b.anon = b.parts[:0], b.out[:0], nil
	b.nf, b.nfDep, b.l4, b.l4Dep = 0, -1, -1, -1
}

func (b *ruleBuilder) add(text string, ex ...expr.Any) int {
	b.parts = append(b.parts, part{text: text})
	if b.exprs {
		b.out = append(b.out, ex...)
	}
	return len(b.parts) - 1
}

// emit adds expressions without text: implicit dependencies.
func (b *ruleBuilder) emit(ex ...expr.Any) {
	if b.exprs {
		b.out = append(b.out, ex...)
	}
}

func (b *ruleBuilder) hide(i *int) {
	if *i >= 0 {
		b.parts[*i].hidden = true
		*i = -1
	}
}

func (b *ruleBuilder) nextID() uint32 {
	*b.ids++
	return *b.ids
}

func opOf(not bool) expr.CmpOp {
	if not {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func neq(not bool) string {
	if not {
		return "!= "
	}
	return ""
}

func metaLoad(k expr.MetaKey) *expr.Meta { return &expr.Meta{Key: k, Register: 1} }

func cmp1(op expr.CmpOp, data []byte) *expr.Cmp {
	return &expr.Cmp{Op: op, Register: 1, Data: data}
}

func nfprotoValue(fam int) byte {
	if fam == 6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

func famName(fam int) string {
	if fam == 6 {
		return "ipv6"
	}
	return "ipv4"
}

// build walks r. Its errors name the match; callers add the chain and
// the rule's index.
func (b *ruleBuilder) build(r *Rule) (builtRule, error) {
	for i := range r.Match {
		if err := b.match(&r.Match[i]); err != nil {
			return builtRule{}, fmt.Errorf("match %d: %w", i, err)
		}
	}
	if r.Counter {
		b.add("counter", &expr.Counter{})
	}
	if r.LogPrefix != "" {
		if len(r.LogPrefix) > 127 {
			return builtRule{}, fmt.Errorf("log prefix %q is longer than 127 bytes", r.LogPrefix)
		}
		b.add("log prefix "+quote(r.LogPrefix), &expr.Log{Key: 1 << unix.NFTA_LOG_PREFIX, Data: []byte(r.LogPrefix)})
	}
	if r.SetMark != 0 || r.ClearMark != 0 {
		b.mark(r.SetMark, r.ClearMark)
	}
	if r.Notrack {
		b.add("notrack", &expr.Notrack{})
	}
	if err := b.verdict(&r.Verdict); err != nil {
		return builtRule{}, err
	}
	if r.Comment != "" {
		if len(r.Comment) > 128 {
			return builtRule{}, fmt.Errorf("comment %q is longer than 128 bytes", r.Comment)
		}
		b.parts = append(b.parts, part{text: "comment " + quote(r.Comment)})
	}
	if b.exprs {
		return builtRule{exprs: b.out, anon: b.anon}, nil
	}
	vis, all := make([]string, 0, len(b.parts)), make([]string, 0, len(b.parts))
	for _, p := range b.parts {
		all = append(all, p.text)
		if !p.hidden {
			vis = append(vis, p.text)
		}
	}
	return builtRule{
		text:    strings.Join(vis, " "),
		verbose: strings.Join(all, " "),
		exprs:   b.out,
		anon:    b.anon,
	}, nil
}

// mark compiles meta mark set meta mark & mask ^ xor, the one bitwise
// form the kernel has, which nft lists as "| set", "& keep" or both.
func (b *ruleBuilder) mark(set, clear uint32) {
	mask := ^(set | clear)
	var text string
	switch {
	case clear == 0:
		text = fmt.Sprintf("meta mark set meta mark | 0x%08x", set)
	case set == 0:
		text = fmt.Sprintf("meta mark set meta mark & 0x%08x", mask)
	default:
		// nft shows the mask with the set bits in it: the same result.
		text = fmt.Sprintf("meta mark set meta mark & 0x%08x | 0x%08x", mask|set, set)
	}
	b.add(text,
		metaLoad(expr.MetaKeyMARK),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask),
			Xor:  binaryutil.NativeEndian.PutUint32(set)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	)
}

func (b *ruleBuilder) verdict(v *Verdict) error {
	switch v.Kind {
	case VerdictNone:
	case VerdictAccept:
		b.add("accept", &expr.Verdict{Kind: expr.VerdictAccept})
	case VerdictDrop:
		b.add("drop", &expr.Verdict{Kind: expr.VerdictDrop})
	case VerdictReturn:
		b.add("return", &expr.Verdict{Kind: expr.VerdictReturn})
	case VerdictJump, VerdictGoto:
		if err := b.checkTarget(v.Chain); err != nil {
			return err
		}
		kind, word := expr.VerdictJump, "jump"
		if v.Kind == VerdictGoto {
			kind, word = expr.VerdictGoto, "goto"
		}
		b.add(word+" "+v.Chain, &expr.Verdict{Kind: kind, Chain: v.Chain})
	case VerdictMap:
		m, ok := b.rs.Maps[v.Map]
		if !ok || m == nil {
			return fmt.Errorf("vmap @%s: no such map", v.Map)
		}
		var k expr.MetaKey
		switch v.Key {
		case "iifname":
			k = expr.MetaKeyIIFNAME
		case "oifname":
			k = expr.MetaKeyOIFNAME
		default:
			return fmt.Errorf("vmap @%s: key %q must be iifname or oifname", v.Map, v.Key)
		}
		b.add(v.Key+" vmap @"+v.Map, metaLoad(k),
			&expr.Lookup{SourceRegister: 1, SetName: v.Map, IsDestRegSet: true, DestRegister: 0})
	default:
		return fmt.Errorf("unknown verdict kind %d", v.Kind)
	}
	return nil
}

// checkTarget: the kernel refuses jumps to base chains, and a jump to a
// chain that is not in the ruleset would fail the whole batch.
func (b *ruleBuilder) checkTarget(name string) error {
	c, ok := b.rs.Chains[name]
	switch {
	case name == "":
		return fmt.Errorf("jump/goto without a chain")
	case !ok || c == nil:
		return fmt.Errorf("jump/goto %s: no such chain", name)
	case c.Base != nil:
		return fmt.Errorf("jump/goto %s: it is a base chain", name)
	}
	return nil
}

// needNF makes sure the rule matches family fam before an address match,
// and hides an explicit `meta nfproto` that it makes redundant.
func (b *ruleBuilder) needNF(fam int) {
	if b.nfDep >= 0 && b.nf == fam {
		b.hide(&b.nfDep)
	}
	if b.nf != fam {
		b.emit(metaLoad(expr.MetaKeyNFPROTO), cmp1(expr.CmpOpEq, []byte{nfprotoValue(fam)}))
		b.nf = fam
	}
}

// l4Known is called when a match sets the l4proto context.
func (b *ruleBuilder) l4Known(p uint8, dep int) {
	// An ICMP protocol implies its family: nft lists
	// `meta nfproto ipv4 meta l4proto icmp` as `meta l4proto icmp`.
	if (p == unix.IPPROTO_ICMP && b.nf == 4) || (p == unix.IPPROTO_ICMPV6 && b.nf == 6) {
		b.hide(&b.nfDep)
	}
	b.l4, b.l4Dep = int(p), dep
}

// thName is how nft names the transport header in the current context,
// hiding the `meta l4proto` it takes the name from. Ports after a
// protocol that has none are refused: the rule could never match, and
// nft would list the port as some other field ("icmp checksum").
func (b *ruleBuilder) thName() (string, error) {
	if b.l4 < 0 {
		return "th", nil
	}
	n, ok := transportNames[uint8(b.l4)]
	if !ok {
		return "", fmt.Errorf("ports after meta l4proto %s, which has none", protoName(uint8(b.l4)))
	}
	b.hide(&b.l4Dep)
	return n, nil
}
