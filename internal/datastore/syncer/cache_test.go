package syncer

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCache(t *testing.T) {
	tests := []struct {
		name           string
		updates        []Update
		want           map[string]any
		wantViolations []string
	}{
		{
			name: "coherent stream",
			updates: []Update{
				{Type: UpdateNew, Key: "/a/1", Value: "x", Revision: 2},
				{Type: UpdateNew, Key: "/a/2", Value: "y", Revision: 2},
				{Type: UpdateChanged, Key: "/a/1", Value: "x2", Revision: 3},
				{Type: UpdateDeleted, Key: "/a/2", Revision: 4},
				{Type: UpdateNew, Key: "/a/2", Value: "y2", Revision: 5},
				{Type: UpdateDeleted, Key: "/a/1", Revision: 5, Invalid: true},
			},
			want: map[string]any{"/a/2": "y2"},
		},
		{
			name: "incoherent stream",
			updates: []Update{
				{Type: UpdateNew, Key: "/a/1", Value: "x", Revision: 3},
				{Type: UpdateNew, Key: "/a/1", Value: "x", Revision: 4},
				{Type: UpdateChanged, Key: "/a/1", Value: "old", Revision: 2},
				{Type: UpdateChanged, Key: "/a/2", Value: "z", Revision: 5},
				{Type: UpdateDeleted, Key: "/a/3", Revision: 6},
			},
			want: map[string]any{"/a/1": "old", "/a/2": "z"},
			wantViolations: []string{
				"new for existing key /a/1 (rev 4, held rev 3)",
				"changed for key /a/1 goes back from rev 4 to 2",
				"changed for absent key /a/2 (rev 5)",
				"deleted for absent key /a/3 (rev 6)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache()
			c.OnUpdates(tt.updates)
			if diff := cmp.Diff(tt.want, c.Snapshot()); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantViolations, c.Violations()); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if got, want := c.UpdateCount(), len(tt.updates); got != want {
				t.Errorf("UpdateCount = %d, want %d", got, want)
			}
		})
	}
}

func TestCacheWaitInSync(t *testing.T) {
	c := NewCache()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.WaitInSync(ctx); err == nil {
		t.Fatal("WaitInSync on a cancelled context before in-sync = nil, want an error")
	}

	done := make(chan error, 1)
	go func() { done <- c.WaitInSync(t.Context()) }()
	c.OnStatusUpdated(StatusResyncInProgress)
	c.OnUpdates([]Update{{Type: UpdateNew, Key: "/a/1", Value: "x", Revision: 2}})
	c.OnStatusUpdated(StatusInSync)
	if err := <-done; err != nil {
		t.Fatalf("WaitInSync = %v", err)
	}
	if got := c.InSyncCount(); got != 1 {
		t.Errorf("InSyncCount = %d, want 1", got)
	}
	c.OnStatusUpdated(StatusInSync)
	if diff := cmp.Diff([]string{"in-sync reported twice in a row"}, c.Violations()); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	if v, ok := c.Get("/a/1"); !ok || v != "x" {
		t.Errorf("Get(/a/1) = %v, %v; want x, true", v, ok)
	}
}
