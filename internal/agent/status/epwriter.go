package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocalico/calico/internal/datastore"
)

// stepEndpoints does at most one piece of endpoint work (a clean-up, a
// listing or one rate-limited write) and reports whether it did; if not,
// it returns how long until there may be work.
func (r *Reporter) stepEndpoints(ctx context.Context, now time.Time) (time.Duration, bool) {
	if now.Before(r.epRetryAt) {
		return r.epRetryAt.Sub(now), false
	}
	if !r.set.endpoints {
		if !r.needCleanup {
			return forever, false
		}
		n, err := r.be.DeletePrefix(ctx, r.epPrefix)
		if r.epResult(now, err, "delete endpoint statuses (endpoint reporting is off)") {
			r.needCleanup = false
			if n > 0 {
				r.log.Info("endpoint reporting off, endpoint statuses deleted", "count", n)
			}
		}
		return 0, true
	}
	if r.eps.desired == nil {
		return forever, false // not in sync yet
	}
	if !r.eps.listed || !now.Before(r.resyncNext) {
		kvs, _, err := r.be.List(ctx, r.epPrefix)
		if r.epResult(now, err, "list endpoint statuses") {
			for _, err := range r.eps.load(kvs) {
				r.log.Warn("unreadable endpoint status in datastore, will rewrite or delete it", "err", err)
			}
			r.resyncNext = now.Add(r.set.resync)
			r.log.Debug("endpoint statuses listed", "found", len(kvs), "toWrite", r.eps.pending())
		}
		return 0, true
	}
	key, st, ok := r.eps.next()
	if !ok {
		return r.resyncNext.Sub(now), false
	}
	if d := r.limiter.wait(now); d > 0 {
		return d, false
	}
	r.limiter.take(now)
	err := r.writeEndpoint(ctx, key, st)
	if r.epResult(now, err, "write endpoint status") {
		r.eps.done(key, st)
	} else {
		r.eps.failed(key)
	}
	return 0, true
}

// writeEndpoint puts status at key, or deletes key when status is "".
// Deleting a key that is already gone is success.
func (r *Reporter) writeEndpoint(ctx context.Context, key, status string) error {
	if status == "" {
		_, err := r.be.Delete(ctx, key, 0)
		if err != nil && !errors.Is(err, datastore.ErrNotFound) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
		r.log.Debug("endpoint status deleted", "key", key)
		return nil
	}
	if _, err := r.be.Update(ctx, key, encodeEndpointValue(status), 0, 0); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	r.log.Debug("endpoint status written", "key", key, "status", status)
	return nil
}

// epResult handles the outcome of one endpoint request: on failure it
// logs and backs off (the datastore is likely down, so all endpoint work
// waits), on success it resets the backoff. It reports success.
func (r *Reporter) epResult(now time.Time, err error, op string) bool {
	if err == nil {
		r.epBackoff.reset()
		return true
	}
	d := r.epBackoff.next()
	r.epRetryAt = now.Add(d)
	if errors.Is(err, context.Canceled) {
		r.log.Debug(op+" cancelled", "err", err)
	} else {
		r.log.Warn(op+" failed", "err", err, "retryIn", d)
	}
	return false
}
