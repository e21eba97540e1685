package syncer

import (
	"errors"
	"log/slog"

	"github.com/gocalico/calico/internal/datastore"
)

// UpdateType says what happened to a key.
type UpdateType int

const (
	// UpdateNew: the key has a value the consumer has not seen before
	// (created, or valid again after being absent or invalid).
	UpdateNew UpdateType = iota + 1
	// UpdateChanged: the key's value replaced a value already delivered.
	UpdateChanged
	// UpdateDeleted: the key's value is gone (deleted, or replaced by a
	// value that failed to decode; see Update.Invalid).
	UpdateDeleted
)

func (t UpdateType) String() string {
	switch t {
	case UpdateNew:
		return "new"
	case UpdateChanged:
		return "changed"
	case UpdateDeleted:
		return "deleted"
	}
	return "unknown"
}

// Update is one change delivered to Callbacks.OnUpdates.
type Update struct {
	Type UpdateType
	Key  string
	// Value is the decoded value (the raw bytes when Config.Decode is
	// nil); nil for UpdateDeleted.
	Value any
	// Revision is the key's mod revision for UpdateNew and UpdateChanged.
	// For UpdateDeleted it is the delete revision when the watch saw the
	// delete, the list revision when a re-list found the key gone, and
	// the bad value's mod revision when Invalid is set.
	Revision int64
	// Invalid is set on an UpdateDeleted emitted because the key's new
	// value failed to decode; the consumer decides whether to fail closed.
	Invalid bool
}

// Status is the syncer's position relative to the datastore.
type Status int

const (
	// StatusWaitingForDatastore: no list has succeeded yet.
	StatusWaitingForDatastore Status = iota + 1
	// StatusResyncInProgress: at least one prefix is being (re-)listed;
	// the consumer's view may be incomplete.
	StatusResyncInProgress
	// StatusInSync: every prefix has been listed and the updates
	// delivered so far describe a consistent datastore.
	StatusInSync
)

func (s Status) String() string {
	switch s {
	case StatusWaitingForDatastore:
		return "wait-for-datastore"
	case StatusResyncInProgress:
		return "resync-in-progress"
	case StatusInSync:
		return "in-sync"
	}
	return "unknown"
}

// Callbacks receives the syncer's output. Both methods are called from a
// single goroutine, never concurrently, and must not retain the slice
// passed to OnUpdates beyond the call (its elements may be kept).
type Callbacks interface {
	OnStatusUpdated(Status)
	OnUpdates([]Update)
}

// ErrSkip, returned by a DecodeFunc, says the value is of no interest to
// this consumer (another host's endpoint, say): it is not delivered, not
// logged and not counted as invalid. If a value had been delivered for the
// key, the consumer gets an UpdateDeleted.
var ErrSkip = errors.New("syncer: value skipped by the decoder")

// DecodeFunc turns a stored value into the consumer's type. An error marks
// the value invalid: it is logged, counted and skipped. It is called from
// several goroutines at once while a list is decoded, so it must be safe
// for concurrent use.
type DecodeFunc func(key string, value []byte, modRevision int64) (any, error)

// Config configures a Syncer.
type Config struct {
	// Backend is the datastore to follow.
	Backend datastore.Backend
	// Prefixes are the key prefixes to list and watch. They must not
	// overlap (no prefix may start with another).
	Prefixes []string
	// Decode decodes values; nil passes the raw []byte through.
	Decode DecodeFunc
	// Log receives the syncer's logs; nil discards them.
	Log *slog.Logger
	// Metrics may be nil.
	Metrics *Metrics
	// BatchSize caps the number of updates per OnUpdates call; 0 means
	// DefaultBatchSize.
	BatchSize int
	// ListPageSize is how many keys each page of a list reads, when the
	// backend lists page by page (etcd): each page is decoded and
	// delivered before the next is read. Smaller pages hold less in
	// memory at once but cost more requests; 0 means the backend's
	// default.
	ListPageSize int64
	// DecodeWorkers is how many goroutines decode a listed snapshot; 0
	// means one per CPU (GOMAXPROCS), 1 decodes on the prefix's goroutine.
	DecodeWorkers int
}

// DefaultBatchSize is the BatchSize used when Config.BatchSize is 0.
const DefaultBatchSize = 1000
