package datastore

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// errWatchClosed reports a watch stream that ended without an error from
// etcd (for example the client was closed).
var errWatchClosed = errors.New("watch stream closed")

// Watch streams changes under prefix from fromRev (0: from now). The
// watch requires a leader: a member cut off from the quorum fails the
// watch instead of leaving it silent. Progress notifications are passed
// on as responses without events, so a quiet prefix still advances the
// caller's revision.
func (b *etcdBackend) Watch(ctx context.Context, prefix string, fromRev int64) <-chan WatchResponse {
	out := make(chan WatchResponse)
	go func() {
		defer close(out)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		opts := []clientv3.OpOption{
			clientv3.WithPrefix(),
			clientv3.WithPrevKV(),
			clientv3.WithProgressNotify(),
		}
		if fromRev > 0 {
			opts = append(opts, clientv3.WithRev(fromRev))
		}
		wch := b.cli.Watch(wctx, prefix, opts...)
		for {
			var resp WatchResponse
			select {
			case <-ctx.Done():
				return
			case wr, ok := <-wch:
				if !ok {
					if ctx.Err() != nil {
						return
					}
					resp = WatchResponse{Err: fmt.Errorf("etcd watch %s: %w", prefix, errWatchClosed)}
				} else {
					resp = convertWatch(prefix, wr)
				}
			}
			select {
			case out <- resp:
			case <-ctx.Done():
				return
			}
			if resp.Err != nil {
				return
			}
		}
	}()
	return out
}

func convertWatch(prefix string, wr clientv3.WatchResponse) WatchResponse {
	resp := WatchResponse{Revision: wr.Header.Revision}
	if err := wr.Err(); err != nil {
		if wr.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
			err = ErrCompacted
		}
		resp.Err = fmt.Errorf("etcd watch %s: %w", prefix, err)
		return resp
	}
	if wr.Canceled {
		resp.Err = fmt.Errorf("etcd watch %s: canceled by server: %w", prefix, errWatchClosed)
		return resp
	}
	if len(wr.Events) > 0 {
		resp.Events = make([]Event, 0, len(wr.Events))
	}
	for _, ev := range wr.Events {
		switch ev.Type {
		case clientv3.EventTypePut:
			resp.Events = append(resp.Events, Event{Type: EventPut, KV: *kvFrom(ev.Kv)})
		case clientv3.EventTypeDelete:
			kv := KV{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision}
			if ev.PrevKv != nil {
				kv.Value = ev.PrevKv.Value
				kv.Lease = ev.PrevKv.Lease
			}
			resp.Events = append(resp.Events, Event{Type: EventDelete, KV: kv})
		}
	}
	return resp
}
