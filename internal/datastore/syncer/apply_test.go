package syncer

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/datastore"
)

// TestApplyEventsSkipsWhatCacheReflects feeds a prefixSyncer events that
// are older than its list or repeated, as a backend replaying history
// after a reconnect might, and checks that each change is delivered once.
func TestApplyEventsSkipsWhatCacheReflects(t *testing.T) {
	out := make(chan message, 16)
	s := New(Config{Prefixes: []string{"/a/"}}, nil)
	p := s.newPrefixSyncer(0, "/a/", out)
	putEv := func(key string, rev int64) datastore.Event {
		return datastore.Event{Type: datastore.EventPut, KV: datastore.KV{Key: key, Value: []byte("v"), ModRevision: rev}}
	}
	delEv := func(key string, rev int64) datastore.Event {
		return datastore.Event{Type: datastore.EventDelete, KV: datastore.KV{Key: key, ModRevision: rev}}
	}
	kvs := []*datastore.KV{
		{Key: "/a/1", Value: []byte("v"), ModRevision: 2},
		{Key: "/a/2", Value: []byte("v"), ModRevision: 2},
	}
	if !p.applyList(t.Context(), kvs, 5) {
		t.Fatal("applyList stopped")
	}
	drain(out)

	events := []datastore.Event{
		putEv("/a/1", 4), // older than the list
		putEv("/a/3", 6),
		putEv("/a/3", 6), // repeated
		delEv("/a/2", 7),
		delEv("/a/2", 7), // repeated
		putEv("/a/4", 7), // same revision as the delete, another key
	}
	if !p.applyEvents(t.Context(), events) {
		t.Fatal("applyEvents stopped")
	}
	// The whole response again: nothing new.
	if !p.applyEvents(t.Context(), events) {
		t.Fatal("applyEvents stopped")
	}
	want := []Update{
		{Type: UpdateNew, Key: "/a/3", Value: []byte("v"), Revision: 6},
		{Type: UpdateDeleted, Key: "/a/2", Revision: 7},
		{Type: UpdateNew, Key: "/a/4", Value: []byte("v"), Revision: 7},
	}
	if diff := cmp.Diff(want, drain(out)); diff != "" {
		t.Errorf("updates (-want +got):\n%s", diff)
	}
	if p.rev != 7 {
		t.Errorf("revision after events = %d, want 7", p.rev)
	}
	wantCache := map[string]int64{"/a/1": 2, "/a/3": 6, "/a/4": 7}
	if diff := cmp.Diff(wantCache, p.cache); diff != "" {
		t.Errorf("cache (-want +got):\n%s", diff)
	}
}

// drain returns the updates of the messages queued in out.
func drain(out chan message) []Update {
	var us []Update
	for {
		select {
		case m := <-out:
			us = append(us, m.updates...)
		default:
			return us
		}
	}
}
