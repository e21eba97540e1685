package calicoctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// clusterInfoKey is read to check that the datastore answers.
const clusterInfoKey = resources.Prefix + "clusterinformations/default"

// connect opens the datastore (or takes the injected backend), checks that
// it answers, and returns a resource client and a function releasing it.
// Errors name the endpoints tried and why each did not answer; a refused
// connection, a missing socket, a TLS or DNS failure on every endpoint
// fails at once rather than after the timeout.
func (a *app) connect(ctx context.Context) (*resources.Client, func(), error) {
	log := a.logger()
	be, closeFn := a.be, func() {}
	where := "the datastore"
	if be == nil {
		cfg := a.cfg
		cfg.DialTimeout = a.timeout
		cfg.RequestTimeout = a.timeout
		eps := cfg.Endpoints
		if len(eps) == 0 {
			eps = datastore.DefaultEndpoints()
		}
		where = "etcd at " + strings.Join(eps, ",")
		b, err := datastore.NewEtcd(ctx, cfg, log)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot connect to %s: %w", where, err)
		}
		if err := datastore.Reach(ctx, b, cfg, clusterInfoKey, a.timeout); err != nil {
			_ = b.Close()
			if ue := (*datastore.UnreachableError)(nil); errors.As(err, &ue) {
				return nil, nil, err // names each endpoint and why
			}
			return nil, nil, fmt.Errorf("cannot reach %s: %w", where, err)
		}
		be = &namedBackend{Backend: b, where: where}
		closeFn = func() { _ = b.Close() }
	} else if err := probe(ctx, be, a.timeout); err != nil {
		return nil, nil, fmt.Errorf("cannot reach %s: %w", where, err)
	}
	opts := append([]resources.Option{resources.WithLogger(log)}, a.clientOpts...)
	return resources.New(be, opts...), closeFn, nil
}

// probe reads one key to check that an injected backend answers within
// timeout.
func probe(ctx context.Context, be datastore.Backend, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	_, err := be.Get(ctx, clusterInfoKey)
	switch {
	case err == nil || errors.Is(err, datastore.ErrNotFound):
		return nil
	case ctx.Err() != nil && timeout > 0:
		return fmt.Errorf("no answer within %s: %w", timeout, ctx.Err())
	}
	return err
}

// namedBackend adds the endpoints to errors that are not one of the
// datastore's answers (not found, exists, conflict), so that a lost
// connection says which etcd was lost.
type namedBackend struct {
	datastore.Backend
	where string
}

func (b *namedBackend) wrap(err error) error {
	if err == nil || errors.Is(err, datastore.ErrNotFound) || errors.Is(err, datastore.ErrExists) ||
		errors.Is(err, datastore.ErrConflict) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w", b.where, err)
}

func (b *namedBackend) Get(ctx context.Context, key string) (*datastore.KV, error) {
	kv, err := b.Backend.Get(ctx, key)
	return kv, b.wrap(err)
}

func (b *namedBackend) List(ctx context.Context, prefix string) ([]*datastore.KV, int64, error) {
	kvs, rev, err := b.Backend.List(ctx, prefix)
	return kvs, rev, b.wrap(err)
}

func (b *namedBackend) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	rev, err := b.Backend.Create(ctx, key, value, ttl)
	return rev, b.wrap(err)
}

func (b *namedBackend) Update(ctx context.Context, key string, value []byte, rev int64, ttl time.Duration) (int64, error) {
	rev, err := b.Backend.Update(ctx, key, value, rev, ttl)
	return rev, b.wrap(err)
}

func (b *namedBackend) Delete(ctx context.Context, key string, rev int64) (*datastore.KV, error) {
	kv, err := b.Backend.Delete(ctx, key, rev)
	return kv, b.wrap(err)
}
