package dataplane

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Kinds of the objects a Failure names.
const (
	// KindEndpoint: an endpoint's interface, sysctls, routes or
	// neighbours (Name is the endpoint's key).
	KindEndpoint = "endpoint"
	// KindSysctl: a host-wide sysctl (Name is its path under /proc/sys).
	KindSysctl = "sysctl"
	// KindBlackhole: the blackhole route of a local block (Name is the
	// block).
	KindBlackhole = "blackhole"
	// KindRoute and KindNeighbour: a route or neighbour entry of the
	// agent's that is no longer wanted and could not be deleted.
	KindRoute     = "route"
	KindNeighbour = "neighbour"
)

// Back-off of one failed object: the first retry after MinRetry, each
// further one after twice the last delay, at most MaxRetry.
const (
	MinRetry = 100 * time.Millisecond
	MaxRetry = time.Minute
)

// Failure is an object the dataplane could not program. It is retried
// on its own, with its own back-off, by Update; everything else is
// programmed meanwhile.
type Failure struct {
	Kind, Name string
	Err        error
	// Since is when the object first failed with this error, and
	// Attempts how many attempts failed with it since.
	Since    time.Time
	Attempts int
	// Retry is when Update tries it again (by the dataplane's clock).
	Retry time.Time
}

func (f Failure) String() string { return fmt.Sprintf("%s %s: %v", f.Kind, f.Name, f.Err) }

// retryDelay is the back-off after the nth failed attempt (n >= 1).
func retryDelay(n int) time.Duration {
	d := MinRetry
	for i := 1; i < n && d < MaxRetry; i++ {
		d *= 2
	}
	return min(d, MaxRetry)
}

// objKey identifies a failed object.
type objKey struct{ kind, name string }

// failure is the record of one failed object: what Failures reports,
// and for a deletion, what to delete.
type failure struct {
	Failure
	route *route
	neigh *neigh
}

// outcome is the result of one attempt at an object in an apply: err
// nil is success. route or neigh is set for a deletion.
type outcome struct {
	err   error
	route *route
	neigh *neigh
}

// settle records the outcomes of an apply: successes clear failures,
// failures start or continue their back-off (a new error starts it
// again). After a full apply (all), every object was attempted, so
// failures it did not see again are gone.
func (d *Linux) settle(outcomes map[objKey]outcome, all bool) {
	now := d.now()
	if all {
		for k := range d.failures {
			if _, ok := outcomes[k]; !ok {
				delete(d.failures, k)
			}
		}
	}
	for k, o := range outcomes {
		if o.err == nil {
			delete(d.failures, k)
			continue
		}
		f := d.failures[k]
		if f == nil || f.Err.Error() != o.err.Error() {
			f = &failure{Failure: Failure{Kind: k.kind, Name: k.name, Since: now}}
			d.failures[k] = f
		}
		f.Err, f.route, f.neigh = o.err, o.route, o.neigh
		f.Attempts++
		f.Retry = now.Add(retryDelay(f.Attempts))
	}
}

// due returns the failed objects whose retry time has come.
func (d *Linux) due() []*failure {
	now := d.now()
	var out []*failure
	for _, f := range d.failures {
		if !now.Before(f.Retry) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *failure) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name)) })
	return out
}

// Failures implements Dataplane.
func (d *Linux) Failures() []Failure {
	out := make([]Failure, 0, len(d.failures))
	for _, k := range slices.SortedFunc(maps.Keys(d.failures), func(a, b objKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
	}) {
		out = append(out, d.failures[k].Failure)
	}
	return out
}

// RetryIn implements Dataplane.
func (d *Linux) RetryIn() (time.Duration, bool) {
	var next time.Time
	for _, f := range d.failures {
		if next.IsZero() || f.Retry.Before(next) {
			next = f.Retry
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return max(next.Sub(d.now()), 0), true
}

// brokenAccess are the errors that say the dataplane's access to the
// kernel is broken (a closed or invalid netlink socket), not that the
// kernel refused one object.
var brokenAccess = []error{syscall.EBADF, syscall.ENOTSOCK, syscall.ENOTCONN, syscall.EPIPE, syscall.ECONNRESET,
	net.ErrClosed, os.ErrClosed}

// brokenAccessError returns the first failure (by key) of outcomes that
// is a broken access to the kernel, or nil.
func brokenAccessError(outcomes map[objKey]outcome) error {
	for _, k := range slices.SortedFunc(maps.Keys(outcomes), func(a, b objKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
	}) {
		err := outcomes[k].err
		if err == nil {
			continue
		}
		for _, target := range brokenAccess {
			if errors.Is(err, target) {
				return &accessError{what: fmt.Sprintf("%s %s: %s", k.kind, k.name, strings.ReplaceAll(err.Error(), "\n", "; ")), err: target}
			}
		}
	}
	return nil
}

// accessError is a broken access to the kernel, found on an object.
type accessError struct {
	what string
	err  error // one of brokenAccess
}

func (e *accessError) Error() string { return "kernel access broken: " + e.what }
func (e *accessError) Unwrap() error { return e.err }
