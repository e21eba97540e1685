package labelindex

import (
	"math/rand/v2"
	"testing"
)

var seeds = []uint64{1, 2, 3, 4, 5, 6}

// TestRandomOperations applies long random sequences and compares
// everything with a brute-force recomputation after every step.
func TestRandomOperations(t *testing.T) {
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	for _, seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 0x1abe1))
		g := gen{intn: r.IntN}
		h := newHarness(t)
		for i := range steps {
			o := g.op()
			h.apply(o)
			h.check(o.String())
			if t.Failed() {
				t.Fatalf("seed %d step %d: %s", seed, i, o)
			}
		}
		h.clearAll()
	}
}

// TestRandomInterleavings builds a history of operations per object and
// replays the histories interleaved in random orders. Histories of
// different objects commute, so every order must end in the same state,
// and every intermediate state must agree with brute force.
func TestRandomInterleavings(t *testing.T) {
	for _, seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 0x0de5))
		g := gen{intn: r.IntN}
		var histories [][]op
		for _, id := range genItems {
			histories = append(histories, g.history(opUpdateItem, opDeleteItem, id))
		}
		for _, id := range genParents {
			histories = append(histories, g.history(opUpdateParent, opDeleteParent, id))
		}
		for _, id := range genSels {
			histories = append(histories, g.history(opUpdateSelector, opDeleteSelector, id))
		}
		for _, id := range genSets {
			histories = append(histories, g.history(opAddSet, opRemoveSet, id))
		}
		var first string
		for order := range 12 {
			h := newHarness(t)
			next := make([]int, len(histories))
			pending := 0
			for _, hist := range histories {
				pending += len(hist)
			}
			for ; pending > 0; pending-- {
				i := r.IntN(len(histories))
				for next[i] == len(histories[i]) {
					i = (i + 1) % len(histories)
				}
				o := histories[i][next[i]]
				next[i]++
				h.apply(o)
				h.check(o.String())
			}
			snap := h.snapshot()
			if order == 0 {
				first = snap
			} else if snap != first {
				t.Fatalf("seed %d: order %d ends in\n%s\nbut order 0 in\n%s", seed, order, snap, first)
			}
			h.clearAll()
		}
	}
}

// FuzzIndex drives random operations chosen by the fuzz input and checks
// against brute force after each.
func FuzzIndex(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("selector and item and parent and set"))
	r := rand.New(rand.NewPCG(7, 7))
	for range 4 {
		b := make([]byte, 200)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{data: data}
		g := gen{intn: src.intn}
		h := newHarness(t)
		for !src.done() {
			o := g.op()
			h.apply(o)
			h.check(o.String())
		}
		h.clearAll()
	})
}

// byteSource turns fuzz bytes into choices; once they run out every
// choice is 0, which keeps the generator finite.
type byteSource struct {
	data []byte
	pos  int
}

func (s *byteSource) intn(n int) int {
	if s.pos >= len(s.data) {
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return int(b) % n
}

func (s *byteSource) done() bool { return s.pos >= len(s.data) }
