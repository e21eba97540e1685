package datastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ttlSeconds rounds a TTL up to whole seconds (etcd's lease unit), at
// least one.
func ttlSeconds(ttl time.Duration) int64 {
	s := int64((ttl + time.Second - 1) / time.Second)
	return max(s, 1)
}

// grant returns a fresh lease for a TTL write, or 0 when ttl <= 0.
func (b *etcdBackend) grant(ctx context.Context, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, nil
	}
	resp, err := b.cli.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return 0, fmt.Errorf("grant lease %s: %w", ttl, mapErr(err))
	}
	return int64(resp.ID), nil
}

// dropLease revokes a lease granted for a write that then failed, so that
// failed writes leak no leases. Best effort: the lease expires anyway.
func (b *etcdBackend) dropLease(ctx context.Context, lease int64) {
	if lease == 0 {
		return
	}
	if _, err := b.cli.Revoke(context.WithoutCancel(ctx), clientv3.LeaseID(lease)); err != nil {
		b.log.Debug("revoke unused lease failed", "lease", lease, "err", err)
	}
}

func (b *etcdBackend) GrantLease(ctx context.Context, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("etcd grant lease: ttl %s must be positive", ttl)
	}
	ctx, cancel := b.req(ctx)
	defer cancel()
	id, err := b.grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("etcd %w", err)
	}
	return id, nil
}

func (b *etcdBackend) KeepAliveOnce(ctx context.Context, lease int64) error {
	ctx, cancel := b.req(ctx)
	defer cancel()
	resp, err := b.cli.KeepAliveOnce(ctx, clientv3.LeaseID(lease))
	if err == nil && resp.TTL <= 0 {
		err = rpctypes.ErrLeaseNotFound
	}
	if err != nil {
		return fmt.Errorf("etcd keepalive lease %x: %w", lease, mapErr(err))
	}
	return nil
}

func (b *etcdBackend) PutWithLease(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	ctx, cancel := b.req(ctx)
	defer cancel()
	resp, err := b.cli.Put(ctx, key, string(value), clientv3.WithLease(clientv3.LeaseID(lease)))
	if err != nil {
		return 0, fmt.Errorf("etcd put %s with lease %x: %w", key, lease, mapErr(err))
	}
	return resp.Header.Revision, nil
}

// RevokeLease revokes lease, deleting its keys. A lease that has already
// expired or been revoked is not an error: its keys are gone either way.
func (b *etcdBackend) RevokeLease(ctx context.Context, lease int64) error {
	ctx, cancel := b.req(ctx)
	defer cancel()
	_, err := b.cli.Revoke(ctx, clientv3.LeaseID(lease))
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("etcd revoke lease %x: %w", lease, mapErr(err))
	}
	return nil
}
