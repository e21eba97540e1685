package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkInitialSync measures a full initial sync through the fake
// backend into a Cache: list, decode, batch, deliver.
func BenchmarkInitialSync(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, decode := range []struct {
			name string
			fn   DecodeFunc
		}{
			{"raw", nil},
			{"json", func(_ string, v []byte, _ int64) (any, error) {
				var m map[string]any
				return m, json.Unmarshal(v, &m)
			}},
		} {
			b.Run(fmt.Sprintf("keys=%d/decode=%s", n, decode.name), func(b *testing.B) {
				f := newFakeBackend()
				ops := make([]op, n)
				for i := range ops {
					ops[i] = put(fmt.Sprintf("/calico/resources/v3/projectcalico.org/workloadendpoints/ns/wep-%06d", i),
						fmt.Sprintf(`{"kind":"WorkloadEndpoint","metadata":{"name":"wep-%06d"},"spec":{"node":"host-%d"}}`, i, i%100))
				}
				f.txn(ops...)
				b.ReportAllocs()
				for b.Loop() {
					c := NewCache()
					s := New(Config{Backend: f, Prefixes: []string{"/calico/resources/"}, Decode: decode.fn}, c)
					ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
					done := make(chan error, 1)
					go func() { done <- s.Run(ctx) }()
					if err := c.WaitInSync(ctx); err != nil {
						b.Fatal(err)
					}
					cancel()
					<-done
					if c.Len() != n {
						b.Fatalf("synced %d keys, want %d", c.Len(), n)
					}
				}
				f.Close()
			})
		}
	}
}
