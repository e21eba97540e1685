package nft

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// A chain's fingerprint covers the chain itself and what its validation
// and compilation look up elsewhere: the type of each set it names, the
// maps it dispatches to, whether each chain it jumps to exists and is a
// base chain. Equal fingerprints therefore mean an equal build, errors
// included. The model (model.go) builds a chain whose object is new only
// when its fingerprint is not the one it has: callers often make a new
// object for a chain with the same rules, and hashing them costs a
// fraction of compiling them.

// fpWriter feeds values to a hash without allocating per value.
type fpWriter struct {
	h   hash.Hash
	buf []byte
}

func newFP() *fpWriter { return &fpWriter{h: sha256.New(), buf: make([]byte, 0, 4096)} }

func (w *fpWriter) flush() {
	w.h.Write(w.buf)
	w.buf = w.buf[:0]
}

func (w *fpWriter) u64(v uint64) {
	if len(w.buf) > 4000 {
		w.flush()
	}
	w.buf = binary.LittleEndian.AppendUint64(w.buf, v)
}

func (w *fpWriter) bool(b bool) {
	if b {
		w.u64(1)
	} else {
		w.u64(0)
	}
}

func (w *fpWriter) bytes(b []byte) {
	w.u64(uint64(len(b)))
	w.buf = append(w.buf, b...)
}

func (w *fpWriter) str(s string) {
	w.u64(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

func (w *fpWriter) sum() [32]byte {
	w.flush()
	var out [32]byte
	w.h.Sum(out[:0])
	w.h.Reset()
	return out
}

func (w *fpWriter) chainFP(rs *Ruleset, c *Chain) [32]byte {
	w.str(c.Name)
	if h := c.Base; h != nil {
		w.str(h.Type)
		w.str(h.Hook)
		w.u64(uint64(int64(h.Priority)))
		w.str(h.Policy)
	} else {
		w.str("\x00regular")
	}
	w.u64(uint64(len(c.Rules)))
	for i := range c.Rules {
		r := &c.Rules[i]
		w.u64(uint64(len(r.Match)))
		for j := range r.Match {
			w.match(rs, &r.Match[j])
		}
		w.bool(r.Counter)
		w.str(r.LogPrefix)
		w.u64(uint64(r.SetMark)<<32 | uint64(r.ClearMark))
		w.bool(r.Notrack)
		v := &r.Verdict
		w.u64(uint64(v.Kind))
		w.str(v.Chain)
		w.str(v.Map)
		w.str(v.Key)
		switch v.Kind {
		case VerdictJump, VerdictGoto:
			t, ok := rs.Chains[v.Chain]
			w.bool(ok && t != nil)
			w.bool(ok && t != nil && t.Base != nil)
		case VerdictMap:
			m, ok := rs.Maps[v.Map]
			w.bool(ok && m != nil)
		}
		w.str(r.Comment)
	}
	return w.sum()
}

func (w *fpWriter) match(rs *Ruleset, m *Match) {
	w.u64(uint64(m.Kind))
	w.bool(m.Not)
	w.str(m.Name)
	w.u64(uint64(int64(m.Family)))
	w.u64(uint64(m.Num)<<32 | uint64(m.Mask))
	w.bytes(m.Nums)
	w.u64(uint64(m.Code))
	w.bool(m.HasCode)
	w.str(m.Set)
	if m.Set != "" {
		s, ok := rs.Sets[m.Set]
		if ok && s != nil {
			w.u64(uint64(s.Type))
		} else {
			w.u64(0)
		}
	}
	w.u64(uint64(len(m.Prefixes)))
	for _, p := range m.Prefixes {
		a := p.Addr().As16()
		w.u64(binary.LittleEndian.Uint64(a[:8]))
		w.u64(binary.LittleEndian.Uint64(a[8:]))
		w.u64(uint64(p.Bits()+1)<<32 | uint64(p.Addr().BitLen()))
	}
	w.u64(uint64(len(m.Ports)))
	for _, p := range m.Ports {
		w.u64(uint64(p.Lo)<<16 | uint64(p.Hi))
	}
	w.bytes(m.MAC)
}
