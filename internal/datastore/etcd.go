package datastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"

	"github.com/gocalico/calico/internal/datastore/internal/zapslog"
)

// Client keepalive: ping an idle connection every keepAliveTime and drop
// it when no answer comes within keepAliveTimeout, so a member that died
// without closing its sockets (host crash, partition) is noticed and the
// balancer moves requests and watches to the other endpoints. Pings go
// only while a stream (a watch) is open: etcd's server refuses pings on a
// connection with no stream (its enforcement policy does not permit them)
// and after two it closes the connection with GOAWAY "too_many_pings",
// which gRPC logs as an error. A connection with no stream needs no ping:
// its next request is bounded by the request timeout.
const (
	keepAliveTime    = 10 * time.Second
	keepAliveTimeout = 5 * time.Second
	// listPageSize is how many keys one List request reads. etcd 3.4
	// walks its whole index range for every limited request, so small
	// pages make a big list quadratic: 100k keys took 8.6 s in pages of
	// 1000 and 1.4 s in pages of 10000 (bench/RESULTS.md). At about 1 KiB
	// a resource a page is about 10 MiB, well within gRPC's limits.
	listPageSize = 10000
)

// etcdBackend implements Backend on an etcd v3 cluster.
type etcdBackend struct {
	cli        *clientv3.Client
	log        *slog.Logger
	reqTimeout time.Duration
	pageSize   int64
	// afterPage, when set (tests only), runs between List pages.
	afterPage func()
}

var _ Backend = (*etcdBackend)(nil)

// NewEtcd returns a Backend talking to the etcd cluster described by cfg
// (DefaultEndpoints when cfg.Endpoints is empty). ctx only carries values:
// the client lives until Close. It does not wait for a connection: an unreachable cluster shows up as
// errors (after the request timeout) on the first requests. Requests are
// balanced over all endpoints; when one member fails the others take over.
// Guarded writes (Create, Update, Delete with a revision) are not retried
// by the client when the connection breaks mid-request, because it cannot
// know whether they were applied; callers re-read and retry.
func NewEtcd(ctx context.Context, cfg Config, log *slog.Logger) (Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	eps, err := cfg.resolvedEndpoints()
	if err != nil {
		return nil, fmt.Errorf("etcd connect: %w", err)
	}
	cfg.Endpoints = eps
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd connect: %w", err)
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	reqTimeout := cfg.RequestTimeout
	if reqTimeout <= 0 {
		reqTimeout = DefaultRequestTimeout
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            eps,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: keepAliveTimeout,
		PermitWithoutStream:  false,
		TLS:                  tlsCfg,
		DialOptions:          reconnectDialOptions(),
		Context:              context.WithoutCancel(ctx),
		Logger:               zapslog.New(log.With("component", "etcd-client"), zapcore.ErrorLevel),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd connect %v: %w", eps, err)
	}
	log.Debug("etcd client created", "endpoints", eps, "tls", tlsCfg != nil)
	return &etcdBackend{cli: cli, log: log, reqTimeout: reqTimeout, pageSize: listPageSize}, nil
}

// req bounds one request.
func (b *etcdBackend) req(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.reqTimeout)
}

// mapErr turns etcd's errors into the package's sentinels where one fits.
func mapErr(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return ErrCompacted
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return fmt.Errorf("lease: %w", ErrNotFound)
	}
	return err
}

func kvFrom(kv *mvccpb.KeyValue) *KV {
	return &KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision, Lease: kv.Lease}
}

func (b *etcdBackend) Get(ctx context.Context, key string) (*KV, error) {
	ctx, cancel := b.req(ctx)
	defer cancel()
	resp, err := b.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", key, mapErr(err))
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("etcd get %s: %w", key, ErrNotFound)
	}
	return kvFrom(resp.Kvs[0]), nil
}

// maxTxnOps is etcd's default limit of operations in one transaction
// (--max-txn-ops); GetMany splits longer key lists.
const maxTxnOps = 128

func (b *etcdBackend) GetMany(ctx context.Context, keys []string) (map[string]*KV, error) {
	ctx, cancel := b.req(ctx)
	defer cancel()
	out := make(map[string]*KV, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), maxTxnOps)
		ops := make([]clientv3.Op, n)
		for i, k := range keys[:n] {
			ops[i] = clientv3.OpGet(k)
		}
		resp, err := b.readTxn(ctx, ops)
		if err != nil {
			return nil, fmt.Errorf("etcd get %d keys (%s...): %w", n, keys[0], mapErr(err))
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				out[string(kv.Key)] = kvFrom(kv)
			}
		}
		keys = keys[n:]
	}
	return out, nil
}

func (b *etcdBackend) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	ctx, cancel := b.req(ctx)
	defer cancel()
	var opts []clientv3.OpOption
	lease, err := b.grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("etcd create %s: %w", key, err)
	}
	if lease != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(lease)))
	}
	resp, err := b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), opts...)).
		Commit()
	if err == nil && !resp.Succeeded {
		err = ErrExists
	}
	if err != nil {
		b.dropLease(ctx, lease)
		return 0, fmt.Errorf("etcd create %s: %w", key, mapErr(err))
	}
	return resp.Header.Revision, nil
}

func (b *etcdBackend) Update(ctx context.Context, key string, value []byte, rev int64, ttl time.Duration) (int64, error) {
	ctx, cancel := b.req(ctx)
	defer cancel()
	var opts []clientv3.OpOption
	lease, err := b.grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("etcd update %s: %w", key, err)
	}
	if lease != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(lease)))
	}
	if rev == 0 {
		resp, err := b.cli.Put(ctx, key, string(value), opts...)
		if err != nil {
			b.dropLease(ctx, lease)
			return 0, fmt.Errorf("etcd update %s: %w", key, mapErr(err))
		}
		return resp.Header.Revision, nil
	}
	resp, err := b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(value), opts...)).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err == nil && !resp.Succeeded {
		err = guardFailure(resp)
	}
	if err != nil {
		b.dropLease(ctx, lease)
		return 0, fmt.Errorf("etcd update %s: %w", key, mapErr(err))
	}
	return resp.Header.Revision, nil
}

// guardFailure tells why a revision-guarded txn with an Else get failed:
// the key is gone, or it has another revision.
func guardFailure(resp *clientv3.TxnResponse) error {
	if len(resp.Responses) == 1 {
		if r := resp.Responses[0].GetResponseRange(); r != nil && r.Count == 0 {
			return ErrNotFound
		}
	}
	return ErrConflict
}

func (b *etcdBackend) Delete(ctx context.Context, key string, rev int64) (*KV, error) {
	ctx, cancel := b.req(ctx)
	defer cancel()
	if rev == 0 {
		resp, err := b.cli.Delete(ctx, key, clientv3.WithPrevKV())
		if err != nil {
			return nil, fmt.Errorf("etcd delete %s: %w", key, mapErr(err))
		}
		if resp.Deleted == 0 || len(resp.PrevKvs) == 0 {
			return nil, fmt.Errorf("etcd delete %s: %w", key, ErrNotFound)
		}
		return kvFrom(resp.PrevKvs[0]), nil
	}
	resp, err := b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err == nil && !resp.Succeeded {
		err = guardFailure(resp)
	}
	if err != nil {
		return nil, fmt.Errorf("etcd delete %s: %w", key, mapErr(err))
	}
	del := resp.Responses[0].GetResponseDeleteRange()
	if del == nil || len(del.PrevKvs) == 0 {
		return nil, fmt.Errorf("etcd delete %s: %w", key, ErrNotFound)
	}
	return kvFrom(del.PrevKvs[0]), nil
}

func (b *etcdBackend) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	if prefix == "" {
		return 0, errors.New("etcd delete prefix: refusing the empty prefix (it would delete every key)")
	}
	ctx, cancel := b.req(ctx)
	defer cancel()
	resp, err := b.cli.Delete(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("etcd delete prefix %s: %w", prefix, mapErr(err))
	}
	return resp.Deleted, nil
}

func (b *etcdBackend) Compact(ctx context.Context, rev int64) error {
	ctx, cancel := b.req(ctx)
	defer cancel()
	_, err := b.cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	if errors.Is(err, rpctypes.ErrCompacted) {
		// Already compacted at or past rev: the store is as asked.
		return nil
	}
	if err != nil {
		return fmt.Errorf("etcd compact %d: %w", rev, err)
	}
	return nil
}

func (b *etcdBackend) Close() error {
	if err := b.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd close: %w", err)
	}
	return nil
}
