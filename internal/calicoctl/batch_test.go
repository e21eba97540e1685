package calicoctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunBatchOrderGroupsAndPhases(t *testing.T) {
	var items []item
	for i := range 200 {
		it := item{kind: "GlobalNetworkSet", name: fmt.Sprintf("s%d", i), group: fmt.Sprintf("g%d", i%7)}
		if i%50 == 3 {
			it.kind = "Tier"
		}
		items = append(items, it)
	}
	tiers := 0
	for _, it := range items {
		if it.kind == "Tier" {
			tiers++
		}
	}
	var (
		mu       sync.Mutex
		inFlight = map[string]int{}
		seen     = map[string][]string{}
		problems []string
		tiersOK  atomic.Int32
	)
	op := func(_ context.Context, it item) outcome {
		mu.Lock()
		inFlight[it.group]++
		if inFlight[it.group] > 1 {
			problems = append(problems, "two items of group "+it.group+" in flight")
		}
		seen[it.group] = append(seen[it.group], it.name)
		if it.kind != "Tier" && int(tiersOK.Load()) != tiers {
			problems = append(problems, it.name+" started before every tier was done")
		}
		mu.Unlock()

		mu.Lock()
		inFlight[it.group]--
		mu.Unlock()
		if it.kind == "Tier" {
			tiersOK.Add(1)
		}
		return outcome{err: errors.New(it.name)}
	}
	outs := runBatch(context.Background(), items, 16, writePhase, op)
	if len(problems) > 0 {
		t.Errorf("problems: %v", problems)
	}
	for i, o := range outs {
		if o.err == nil || o.err.Error() != items[i].name {
			t.Errorf("outcome %d = %v, want the outcome of %s", i, o.err, items[i].name)
		}
	}
	// Within a group and phase, input order.
	want := map[string][]string{}
	for _, phase := range []int{0, 1} {
		for _, it := range items {
			if writePhase(it) == phase {
				want[it.group] = append(want[it.group], it.name)
			}
		}
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("order within groups (-want +got):\n%s", diff)
	}
}

func TestRunBatchCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	items := []item{{name: "a"}, {name: "b"}}
	called := false
	outs := runBatch(ctx, items, 4, writePhase, func(context.Context, item) outcome {
		called = true
		return outcome{}
	})
	if called {
		t.Error("op called after cancellation")
	}
	for i, o := range outs {
		if !errors.Is(o.err, context.Canceled) || !o.notTried {
			t.Errorf("outcome %d = %+v, want not tried with context.Canceled", i, o)
		}
	}
}

func TestSummarize(t *testing.T) {
	pool := func(n string) item { return item{kind: "IPPool", name: n} }
	tier := item{kind: "Tier", name: "t"}
	exists := errors.New("resource already exists: IPPool(b)")
	tests := []struct {
		name           string
		items          []item
		outs           []outcome
		stdout, stderr string
		wantErr        bool
	}{
		{
			name:   "all created",
			items:  []item{pool("a"), pool("b")},
			outs:   []outcome{{}, {}},
			stdout: "Successfully created 2 'IPPool' resource(s)\n",
		},
		{
			name:   "mixed kinds",
			items:  []item{pool("a"), tier},
			outs:   []outcome{{}, {}},
			stdout: "Successfully created 2 resource(s)\n",
		},
		{
			name:   "skipped",
			items:  []item{pool("a"), pool("b")},
			outs:   []outcome{{}, {skipped: true}},
			stdout: "Successfully created 1 'IPPool' resource(s), skipped 1 that already existed\n",
		},
		{
			name:   "all skipped",
			items:  []item{pool("a")},
			outs:   []outcome{{skipped: true}},
			stdout: "Successfully created 0 'IPPool' resource(s), skipped 1 that already existed\n",
		},
		{
			name:    "skipped and failed",
			items:   []item{pool("a"), pool("b")},
			outs:    []outcome{{skipped: true}, {err: exists}},
			stdout:  "Partial success: created 0 out of 2 'IPPool' resource(s), skipped 1 that already existed\n",
			stderr:  "Failed to create 'IPPool' resource: [resource already exists: IPPool(b)]\n",
			wantErr: true,
		},
		{
			name:    "one failed",
			items:   []item{pool("b")},
			outs:    []outcome{{err: exists}},
			stderr:  "Failed to create 'IPPool' resource: [resource already exists: IPPool(b)]\n",
			wantErr: true,
		},
		{
			name:    "partial",
			items:   []item{pool("a"), pool("b"), pool("c")},
			outs:    []outcome{{}, {err: exists}, {}},
			stdout:  "Partial success: created 2 out of 3 'IPPool' resource(s)\n",
			stderr:  "Failed to create 'IPPool' resource: [resource already exists: IPPool(b)]\n",
			wantErr: true,
		},
		{
			name:    "interrupted",
			items:   []item{pool("a"), pool("b"), pool("c")},
			outs:    []outcome{{}, {err: context.Canceled, notTried: true}, {err: context.Canceled, notTried: true}},
			stdout:  "Partial success: created 1 out of 3 'IPPool' resource(s)\n",
			stderr:  "Interrupted: 2 resource(s) not created\n",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			a := &app{stdout: &out, stderr: &errOut}
			err := a.summarize(verb{do: "create", done: "created", skipped: "that already existed"}, tt.items, tt.outs)
			if (err != nil) != tt.wantErr {
				t.Errorf("error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.stdout, out.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.stderr, errOut.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
