package datastore

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// List reads prefix in pages of b.pageSize keys. The first page fixes the
// revision; later pages read at that revision, starting just after the
// last key seen, so the result is one consistent snapshot without one
// huge response. If the revision is compacted between pages the error
// wraps ErrCompacted and the caller lists again.
func (b *etcdBackend) List(ctx context.Context, prefix string) ([]*KV, int64, error) {
	var out []*KV
	rev, err := b.ListPages(ctx, prefix, b.pageSize, func(kvs []*KV, _ int64) error {
		out = append(out, kvs...)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// ListPages is List handing each page (sorted, at one revision) to fn
// as it arrives, so that a caller need not hold the whole prefix at
// once; pageSize <= 0 means the backend's default. fn may keep or clear
// the slice; an error from it ends the listing with that error. If the
// revision is compacted between pages, the pages already given were
// consistent but the listing is incomplete: the error wraps
// ErrCompacted.
func (b *etcdBackend) ListPages(ctx context.Context, prefix string, pageSize int64, fn func(kvs []*KV, rev int64) error) (int64, error) {
	if pageSize <= 0 {
		pageSize = b.pageSize
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	if prefix == "" {
		end = "\x00" // every key
	}
	var (
		rev   int64
		start = prefix
	)
	if start == "" {
		start = "\x00"
	}
	for {
		opts := []clientv3.OpOption{
			clientv3.WithRange(end),
			clientv3.WithLimit(pageSize),
		}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := b.page(ctx, start, opts)
		if err != nil {
			return 0, fmt.Errorf("etcd list %s: %w", prefix, mapErr(err))
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		kvs := make([]*KV, len(resp.Kvs))
		for i, kv := range resp.Kvs {
			kvs[i] = kvFrom(kv)
		}
		more := resp.More && len(resp.Kvs) > 0
		if more {
			start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
		resp = nil // the page's values live on in kvs only
		if err := fn(kvs, rev); err != nil {
			return 0, err
		}
		if !more {
			return rev, nil
		}
		if b.afterPage != nil {
			b.afterPage()
		}
	}
}

func (b *etcdBackend) page(ctx context.Context, start string, opts []clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := b.req(ctx)
	defer cancel()
	return b.cli.Get(ctx, start, opts...)
}
