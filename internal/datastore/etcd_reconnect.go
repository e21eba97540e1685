package datastore

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Reconnection to an etcd member that went away: gRPC's default backoff
// grows to two minutes, so after an outage of a minute a client could
// wait most of another minute before it noticed etcd was back (and its
// watches resumed). Capped at maxReconnectDelay, every component is
// following the datastore again within seconds of its return; an attempt
// is one connect to a socket, cheap for a recovering cluster.
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
