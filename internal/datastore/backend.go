// Package datastore is the one way every component reads and writes the
// Calico v3 datastore: a small key/value backend interface with
// compare-and-swap, prefix list, watch and leases, and its etcd v3
// implementation.
package datastore

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Backend. Callers test them with errors.Is.
var (
	// ErrNotFound: the key does not exist (Get, Update, Delete).
	ErrNotFound = errors.New("resource does not exist")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("resource already exists")
	// ErrConflict: the revision given to Update or Delete is not the
	// key's current mod revision (someone else wrote it first).
	ErrConflict = errors.New("update conflict: the resource was modified concurrently")
	// ErrCompacted: a watch asked for a revision that etcd has compacted
	// away; the caller must re-list.
	ErrCompacted = errors.New("required revision has been compacted")
)

// KV is one key with its value and etcd revisions.
type KV struct {
	Key   string
	Value []byte
	// ModRevision is the etcd mod_revision of the key: the
	// resourceVersion of the resource stored there.
	ModRevision int64
	// Lease is the lease the key is attached to, 0 for none.
	Lease int64
}

// EventType says what happened to a key in a watch.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return "unknown"
}

// Event is one change seen by a watch. For EventDelete, KV.Value is the
// value before the delete when the backend knows it (may be nil) and
// KV.ModRevision is the revision of the delete.
type Event struct {
	Type EventType
	KV   KV
}

// WatchResponse is one batch of events from a watch, all at or below
// Revision. Err is set when the watch ended: ErrCompacted when the start
// revision is gone (re-list), any other error for a broken stream (the
// caller may re-watch from its last revision + 1). After a response with
// Err the channel is closed.
type WatchResponse struct {
	Events   []Event
	Revision int64
	Err      error
}

// Backend is a key/value store with the semantics Calico's datastore needs.
// Keys are full etcd keys (e.g. /calico/resources/v3/projectcalico.org/ippools/p1).
// All methods are safe for concurrent use.
type Backend interface {
	// Get returns the key or ErrNotFound.
	Get(ctx context.Context, key string) (*KV, error)
	// GetMany reads several keys in one request (one per 128 keys), each
	// request at one revision: the keys that exist, by key (a missing key
	// is simply absent).
	GetMany(ctx context.Context, keys []string) (map[string]*KV, error)
	// List returns every key under prefix, sorted by key, and the store
	// revision the list was taken at. Large prefixes are read in pages
	// pinned to one revision, so the result is a consistent snapshot.
	List(ctx context.Context, prefix string) ([]*KV, int64, error)
	// Create writes key only if it does not exist (ErrExists otherwise).
	// ttl > 0 attaches a new lease of that length. Returns the new revision.
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error)
	// Update writes key only if its mod revision equals rev (ErrConflict
	// otherwise; ErrNotFound if the key is gone). rev 0 means
	// unconditional put (creating the key if needed). ttl as for Create.
	Update(ctx context.Context, key string, value []byte, rev int64, ttl time.Duration) (int64, error)
	// Delete removes key only if its mod revision equals rev (rev 0: any
	// revision). Returns the deleted KV. ErrNotFound if absent,
	// ErrConflict on a revision mismatch.
	Delete(ctx context.Context, key string, rev int64) (*KV, error)
	// DeletePrefix removes every key under prefix and returns how many.
	DeletePrefix(ctx context.Context, prefix string) (int64, error)
	// Watch streams changes under prefix starting at revision fromRev
	// (inclusive). The channel closes when ctx ends or after a response
	// carrying Err.
	Watch(ctx context.Context, prefix string, fromRev int64) <-chan WatchResponse
	// GrantLease creates a lease of the given TTL and returns its ID.
	GrantLease(ctx context.Context, ttl time.Duration) (int64, error)
	// KeepAliveOnce refreshes a lease; ErrNotFound if it has expired.
	KeepAliveOnce(ctx context.Context, lease int64) error
	// PutWithLease writes key unconditionally, attached to lease.
	PutWithLease(ctx context.Context, key string, value []byte, lease int64) (int64, error)
	// RevokeLease drops a lease and every key attached to it.
	RevokeLease(ctx context.Context, lease int64) error
	// Compact compacts the store's history up to rev (tests, benchmarks
	// and operators' maintenance).
	Compact(ctx context.Context, rev int64) error
	// Close releases the connection.
	Close() error
}
