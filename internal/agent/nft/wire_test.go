package nft

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
)

// TestWireRuleMatchesLibrary: a rule and the batch markers put on the
// wire directly are, byte for byte, what google/nftables' AddRule and
// Flush make (with the flags the transport has always sent).
func TestWireRuleMatchesLibrary(t *testing.T) {
	table := &nftables.Table{Name: "calico", Family: nftables.TableFamilyINet}
	for _, rs := range []*Ruleset{representative(), agentRuleset()} {
		for _, name := range sortedKeys(rs.Chains)[:min(len(rs.Chains), 50)] {
			c := rs.Chains[name]
			for i := range c.Rules {
				r := &c.Rules[i]
				t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
					var ids uint32
					rb := newRuleBuilder(rs)
					rb.exprs, rb.table, rb.ids = true, table, &ids
					br, err := rb.build(r)
					if err != nil {
						t.Fatal(err)
					}
					ud := ruleUserData(r.Comment, "0123456789abcdef")

					var got []netlink.Message
					cp := &capture{send: func(m []netlink.Message) { got = m }}
					conn, err := cp.conn()
					if err != nil {
						t.Fatal(err)
					}
					conn.AddRule(&nftables.Rule{Table: table, Chain: &nftables.Chain{Table: table, Name: name}, Exprs: br.exprs, UserData: ud})
					if err := conn.Flush(); err != nil {
						t.Fatal(err)
					}
					if len(got) != 3 {
						t.Fatalf("library made %d messages, want the rule between batch markers", len(got))
					}
					var want wire
					for i := range got {
						want.add(&got[i])
					}

					var direct wire
					direct.add(&batchMarkers[0])
					var exprs [][]byte
					for _, e := range br.exprs {
						m, err := expr.Marshal(byte(table.Family), e)
						if err != nil {
							t.Fatal(err)
						}
						exprs = append(exprs, m)
					}
					if err := direct.addRule(byte(table.Family), table.Name, name, exprs, ud); err != nil {
						t.Fatal(err)
					}
					direct.add(&batchMarkers[1])
					if !bytes.Equal(flat(&direct), flat(&want)) || direct.n != want.n || direct.size != want.size {
						t.Errorf("direct\n%x\nlibrary\n%x", flat(&direct), flat(&want))
					}
				})
			}
		}
	}
}

func flat(w *wire) []byte { return bytes.Join(w.chunks, nil) }

// TestWireChunks: messages never straddle chunks, and each reads back
// whole, in order, numbered.
func TestWireChunks(t *testing.T) {
	var w wire
	sizes := []int{4, 100, 60 << 10, 3, maxChunk - 20, 8, 70 << 10}
	for i := range 3000 {
		data := bytes.Repeat([]byte{byte(i)}, sizes[i%len(sizes)])
		w.add(&netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(i)}, Data: data})
	}
	w.setSeq(1000)
	i := 0
	w.each(func(j int, m []byte) {
		if j != i || int(msgType(m)) != j&0xffff {
			t.Fatalf("message %d read back as %d, type %d", i, j, msgType(m))
		}
		if seq := binary.NativeEndian.Uint32(m[8:12]); seq != uint32(1000+j+1) {
			t.Fatalf("message %d: sequence %d", j, seq)
		}
		if want := nlmsgAlign(16 + sizes[j%len(sizes)]); len(m) != want {
			t.Fatalf("message %d: %d bytes, want %d", j, len(m), want)
		}
		i++
	})
	if i != w.n || i != 3000 {
		t.Fatalf("read %d messages, wrote %d", i, w.n)
	}
	total := 0
	for _, c := range w.chunks {
		total += len(c)
	}
	if total != w.size || len(w.chunks) > 1024 {
		t.Errorf("%d bytes in %d chunks, size %d", total, len(w.chunks), w.size)
	}
}
