package datastore

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reconnection to an etcd member that went away: gRPC's default backoff
// grows by 1.6 each attempt up to two minutes (attempts about 26, 43, 70
// and 113 s after the loss), so after an outage the client noticed etcd
// was back (and resumed its watches) seconds to tens of seconds late: 2.6
// and 6.4 s after a one-minute outage in the lab, up to about 40 s after
// a longer one. With attempts at most maxReconnectDelay apart it was
// 0.6 to 1.7 s. An attempt is one connect to a socket, cheap for a
// recovering cluster.
const maxReconnectDelay = 3 * time.Second

// reconnectDialOptions are the gRPC dial options of every etcd client.
func reconnectDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  250 * time.Millisecond,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   maxReconnectDelay,
		},
		// As gRPC's default: a connect attempt (TLS included) may take
		// this long before it counts as failed.
		MinConnectTimeout: 20 * time.Second,
	})}
}

// readTxnAttempts bounds how often readTxn sends one transaction.
const readTxnAttempts = 3

// readTxn commits a transaction of reads only. The etcd client retries a
// read on another member when the connection breaks, but not a
// transaction, which may write; one that only reads is as safe to send
// again, so a member lost in the middle of it costs a retry, not an
// error.
func (b *etcdBackend) readTxn(ctx context.Context, ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	for attempt := 1; ; attempt++ {
		resp, err := b.cli.Txn(ctx).Then(ops...).Commit()
		if err == nil || attempt == readTxnAttempts || status.Code(err) != codes.Unavailable {
			return resp, err
		}
		b.log.Debug("read transaction failed on a broken connection; sending it again", "error", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}
