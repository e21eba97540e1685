package nft

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// attr is one netlink attribute, payload padded.
func attr(typ uint16, v []byte) []byte {
	b := make([]byte, nlaSize(len(v)))
	putAttr(b, 0, typ, v)
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// ruleAttrs is a NEWRULE's attributes with a comment (when not empty),
// a payload expression and a counter expression (when withCounter).
func ruleAttrs(comment string, withCounter bool, packets, bytes uint64) []byte {
	exprs := attr(unix.NFTA_LIST_ELEM, cat(attr(unix.NFTA_EXPR_NAME, []byte("payload\x00")), attr(unix.NFTA_EXPR_DATA, attr(1, []byte{1, 2, 3, 4}))))
	if withCounter {
		exprs = append(exprs, attr(unix.NFTA_LIST_ELEM, cat(attr(unix.NFTA_EXPR_NAME, []byte("counter\x00")),
			attr(unix.NFTA_EXPR_DATA|unix.NLA_F_NESTED, cat(attr(unix.NFTA_COUNTER_BYTES, be64(bytes)), attr(unix.NFTA_COUNTER_PACKETS, be64(packets))))))...)
	}
	out := cat(attr(unix.NFTA_RULE_TABLE, []byte("calico\x00")), attr(unix.NFTA_RULE_CHAIN, []byte("c\x00")),
		attr(unix.NFTA_RULE_EXPRESSIONS|unix.NLA_F_NESTED, exprs))
	if comment != "" {
		ud := append([]byte{0, byte(len(comment) + 1)}, comment...) // userdata.TypeComment
		out = append(out, attr(unix.NFTA_RULE_USERDATA, append(ud, 0))...)
	}
	return out
}

// TestAddRuleCounter: a rule's counter is added under its comment (rules
// sharing a comment add up); rules without a comment or a counter add
// nothing; malformed attributes (any truncation of a valid message)
// never panic.
func TestAddRuleCounter(t *testing.T) {
	out := map[string]Counter{}
	addRuleCounter(out, ruleAttrs("g/x:in:0", true, 3, 300))
	addRuleCounter(out, ruleAttrs("g/x:in:0", true, 2, 100))
	addRuleCounter(out, ruleAttrs("no-counter", false, 0, 0))
	addRuleCounter(out, ruleAttrs("", true, 9, 9))
	if len(out) != 1 || out["g/x:in:0"] != (Counter{Packets: 5, Bytes: 400}) {
		t.Errorf("counters = %+v, want only g/x:in:0 with 5 packets, 400 bytes", out)
	}
	full := ruleAttrs("g/x:in:0", true, 3, 300)
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range len(full) {
		addRuleCounter(map[string]Counter{}, full[:n])
		b := append([]byte(nil), full...)
		b[rng.IntN(len(b))] = byte(rng.IntN(256))
		addRuleCounter(map[string]Counter{}, b)
	}
}
