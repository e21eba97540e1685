package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gocalico/calico/internal/datastore"
)

// reportStatus writes one status report and schedules the next: after
// the interval, or sooner (with backoff) when the write failed.
func (r *Reporter) reportStatus(ctx context.Context, now time.Time) {
	if err := r.writeStatus(ctx); err != nil {
		d := min(r.set.interval, r.statusBackoff.next())
		r.statusNext = now.Add(d)
		if ctx.Err() == nil {
			r.log.Warn("status report failed", "err", err, "retryIn", d)
		}
		return
	}
	r.statusBackoff.reset()
	r.statusNext = now.Add(r.set.interval)
}

// statusReport builds the report for the current time.
func (r *Reporter) statusReport() []byte {
	t := r.clock()
	b, _ := json.Marshal(StatusReport{ // cannot fail: plain fields
		Time:        t.UTC().Format(time.RFC3339),
		Uptime:      t.Sub(r.start).Seconds(),
		FirstUpdate: !r.reported,
	})
	return b
}

// writeStatus writes the status key on the lease and last_reported_status
// without one.
func (r *Reporter) writeStatus(ctx context.Context) error {
	val := r.statusReport()
	old, err := r.ensureLease(ctx)
	if err != nil {
		return err
	}
	_, err = r.be.PutWithLease(ctx, r.statusKey, val, r.lease)
	if errors.Is(err, datastore.ErrNotFound) {
		// The lease expired between the keepalive and the put.
		r.lease = 0
		if _, err = r.ensureLease(ctx); err != nil {
			return err
		}
		_, err = r.be.PutWithLease(ctx, r.statusKey, val, r.lease)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", r.statusKey, err)
	}
	if old != 0 {
		// The key has moved to a lease of the new TTL; the old one holds
		// nothing now. Best effort: it expires anyway.
		if err := r.be.RevokeLease(ctx, old); err != nil {
			r.log.Debug("revoke replaced status lease", "lease", old, "err", err)
		}
	}
	if !r.reported {
		r.log.Info("first status report written", "key", r.statusKey, "lease", r.lease)
	}
	r.reported = true
	if _, err := r.be.Update(ctx, r.lastKey, val, 0, 0); err != nil {
		return fmt.Errorf("write %s: %w", r.lastKey, err)
	}
	return nil
}

// ensureLease makes r.lease a live lease of the configured TTL: the
// current one refreshed, or a new one when it has expired or its TTL
// changed. It returns a lease to revoke once the key has moved off it.
func (r *Reporter) ensureLease(ctx context.Context) (replaced int64, err error) {
	if r.lease != 0 && r.leaseTTL != r.set.ttl {
		replaced, r.lease = r.lease, 0
	}
	if r.lease != 0 {
		err := r.be.KeepAliveOnce(ctx, r.lease)
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			r.log.Info("status lease expired, granting a new one", "lease", r.lease)
			r.lease = 0
		case err != nil:
			return 0, fmt.Errorf("refresh status lease: %w", err)
		default:
			return 0, nil
		}
	}
	id, err := r.be.GrantLease(ctx, r.set.ttl)
	if err != nil {
		if replaced != 0 {
			r.lease = replaced // still holds the key; retry the move later
		}
		return 0, fmt.Errorf("grant status lease: %w", err)
	}
	r.lease, r.leaseTTL = id, r.set.ttl
	return replaced, nil
}

// revokeLease drops the lease when status reporting is turned off, so
// the status key goes at once. Best effort: the lease expires anyway.
func (r *Reporter) revokeLease(ctx context.Context) {
	if r.lease == 0 {
		return
	}
	if err := r.be.RevokeLease(ctx, r.lease); err != nil {
		r.log.Warn("revoke status lease", "lease", r.lease, "err", err)
	} else {
		r.log.Info("status reporting off, status key removed", "key", r.statusKey)
	}
	r.lease = 0
}
