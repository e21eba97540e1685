package nft

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeApplier is an applier on the fake transport whose kernel reads
// return an empty namespace and are counted.
func fakeApplier(t testing.TB) (*Applier, *fakeTransport, *int) {
	a, err := NewApplier("calico", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &fakeTransport{}
	reads := 0
	a.tr = tr
	a.read = func() (*state, error) { reads++; return emptyState(), nil }
	return a, tr, &reads
}

// TestApplyMessages: what goes on the wire, without a kernel.
func TestApplyMessages(t *testing.T) {
	ctx := context.Background()
	a, tr, reads := fakeApplier(t)
	if err := a.Apply(ctx, representative()); err != nil {
		t.Fatal(err)
	}
	if len(tr.batches) != 1 || *reads != 1 {
		t.Fatalf("first apply: %d batches, %d reads; want 1 and 1", len(tr.batches), *reads)
	}
	if got := tr.batches[0][0]; got != "newtable" {
		t.Errorf("first message %s, want newtable", got)
	}
	if got, want := a.Stats().Msgs, len(tr.batches[0]); got != want {
		t.Errorf("Stats.Msgs %d, batch has %d", got, want)
	}

	if err := a.Apply(ctx, representative()); err != nil {
		t.Fatal(err)
	}
	if len(tr.batches) != 1 {
		t.Errorf("unchanged ruleset sent a batch: %v", tr.batches[1:])
	}

	for _, tc := range []struct {
		name   string
		change func(*Ruleset)
		want   []string
	}{
		{"one element", func(rs *Ruleset) {
			rs.Sets["all-ipv4"].Elements = append(rs.Sets["all-ipv4"].Elements, addrElems("10.65.0.9")...)
		}, []string{"newsetelem"}},
		{"one chain", func(rs *Ruleset) {
			rs.Chains["to-wl-cali5678"].Rules[0].Counter = true
		}, []string{"delrule", "newrule"}},
		// A rule's anonymous sets go with it.
		{"rule with an anonymous set", func(rs *Ruleset) {
			rs.Chains["to-wl-cali5678"].Rules[0].Match = []Match{tcp(), dport(single(1), single(3))}
		}, []string{"delrule", "newset", "newsetelem", "newrule"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// From the representative ruleset each time.
			a, tr, _ := fakeApplier(t)
			if err := a.Apply(ctx, representative()); err != nil {
				t.Fatal(err)
			}
			if err := a.Apply(ctx, changed(tc.change)); err != nil {
				t.Fatal(err)
			}
			if len(tr.batches) != 2 {
				t.Fatalf("%d batches, want 2", len(tr.batches))
			}
			if diff := cmp.Diff(tc.want, tr.batches[1]); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestApplyFailure: a refused transaction is reported against the
// operation that queued the failing message, as rejected; nothing was
// applied, so the applier still knows what the kernel holds and reads
// nothing back: the next Apply plans against it.
func TestApplyFailure(t *testing.T) {
	ctx := context.Background()
	a, tr, reads := fakeApplier(t)
	if err := a.Apply(ctx, representative()); err != nil {
		t.Fatal(err)
	}
	tr.fail = func(i int, kind string) error {
		if kind == "newsetelem" {
			return syscall.EEXIST
		}
		return nil
	}
	next := changed(changes[1].change)
	err := a.Apply(ctx, next)
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, syscall.EEXIST) || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "add elements 1-1 of 1 in all-ipv4") ||
		!strings.Contains(err.Error(), "nothing applied") {
		t.Errorf("error %q does not name the operation, or is not ErrRejected", err)
	}
	tr.fail = nil
	// The kernel holds the representative ruleset still: nothing to do.
	if err := a.Apply(ctx, representative()); err != nil {
		t.Fatal(err)
	}
	if len(tr.batches) != 2 {
		t.Errorf("%d batches, want 2 (the first and the refused one)", len(tr.batches))
	}
	// The change, applied again, sends what the refused one sent.
	if err := a.Apply(ctx, next); err != nil {
		t.Fatal(err)
	}
	if len(tr.batches) != 3 {
		t.Fatalf("%d batches, want 3", len(tr.batches))
	}
	if diff := cmp.Diff(tr.batches[1], tr.batches[2]); diff != "" {
		t.Errorf("the change after the refusal (-refused +sent):\n%s", diff)
	}
	if *reads != 1 {
		t.Errorf("%d reads, want 1: a rejected Apply changes nothing, so nothing need be read back", *reads)
	}
}

// TestApplyRefusesBadRuleset: nothing is sent for an invalid ruleset,
// and the record is kept (nothing was tried).
func TestApplyRefusesBadRuleset(t *testing.T) {
	ctx := context.Background()
	a, tr, reads := fakeApplier(t)
	if err := a.Apply(ctx, representative()); err != nil {
		t.Fatal(err)
	}
	err := a.Apply(ctx, invalidRuleset())
	if err == nil || !strings.Contains(err.Error(), "invalid ruleset") {
		t.Fatalf("error %v", err)
	}
	if err := a.Apply(ctx, &Ruleset{Table: "other"}); err == nil {
		t.Error("a ruleset for another table was accepted")
	}
	if err := a.Apply(ctx, representative()); err != nil {
		t.Fatal(err)
	}
	if len(tr.batches) != 1 || *reads != 1 {
		t.Errorf("%d batches, %d reads; want 1 and 1", len(tr.batches), *reads)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Apply(ctx2, representative()); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context: %v", err)
	}
}
