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
	end := clientv3.GetPrefixRangeEnd(prefix)
	if prefix == "" {
		end = "\x00" // every key
	}
	var (
		out   []*KV
		rev   int64
		start = prefix
	)
	if start == "" {
		start = "\x00"
	}
	for {
		opts := []clientv3.OpOption{
			clientv3.WithRange(end),
			clientv3.WithLimit(b.pageSize),
		}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := b.page(ctx, start, opts)
		if err != nil {
			return nil, 0, fmt.Errorf("etcd list %s: %w", prefix, mapErr(err))
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, kvFrom(kv))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
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
