package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/ipam"
	"github.com/gocalico/calico/internal/resources"
)

// countingBackend counts the requests that reach etcd.
type countingBackend struct {
	datastore.Backend
	gets, lists, writes atomic.Int64
}

func (c *countingBackend) Get(ctx context.Context, key string) (*datastore.KV, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}

func (c *countingBackend) List(ctx context.Context, prefix string) ([]*datastore.KV, int64, error) {
	c.lists.Add(1)
	return c.Backend.List(ctx, prefix)
}

func (c *countingBackend) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	c.writes.Add(1)
	return c.Backend.Create(ctx, key, value, ttl)
}

func (c *countingBackend) Update(ctx context.Context, key string, value []byte, rev int64, ttl time.Duration) (int64, error) {
	c.writes.Add(1)
	return c.Backend.Update(ctx, key, value, rev, ttl)
}

func (c *countingBackend) Delete(ctx context.Context, key string, rev int64) (*datastore.KV, error) {
	c.writes.Add(1)
	return c.Backend.Delete(ctx, key, rev)
}

func (c *countingBackend) total() int64 { return c.gets.Load() + c.lists.Load() + c.writes.Load() }

// BenchmarkIPAM: allocations per second against an embedded etcd (data
// on /dev/shm when it has room), one address per allocation with its
// own handle, as a CNI ADD asks for, and the etcd requests each costs:
//
//   - 1-client: one host, one caller after another;
//   - 10-hosts: ten hosts (ten Clients) at once, each one caller;
//   - 10-on-one-host: ten callers at once on one host (its blocks are
//     contended);
//
// then the release of every handle (ReleaseByHandle, ten at once).
// The pool (a /16 of /26 blocks) has room for all of them; every run
// starts from an empty datastore.
func BenchmarkIPAM(b *testing.B) {
	const perRun = 2000
	for _, tc := range []struct {
		name         string
		hosts, procs int
	}{
		{"1-client", 1, 1},
		{"10-hosts", 10, 1},
		{"10-on-one-host", 1, 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var assigned, released []float64
			var perAlloc, perRelease []float64
			for range b.N {
				_, raw := etcdtest.Embedded(b)
				be := &countingBackend{Backend: raw}
				ctx := context.Background()
				p := v3.NewIPPool()
				p.Metadata.Name = "pool"
				p.Spec.CIDR = "10.200.0.0/16"
				if _, err := resources.New(raw).Create(ctx, p); err != nil {
					b.Fatal(err)
				}
				callers := tc.hosts * tc.procs
				clients := make([]*ipam.Client, tc.hosts)
				for h := range clients {
					clients[h] = ipam.New(be, nil)
				}
				run := func(each func(c *ipam.Client, host string, i int) error) time.Duration {
					var wg sync.WaitGroup
					var first error
					var once sync.Once
					start := time.Now()
					for k := range callers {
						h := k % tc.hosts
						wg.Go(func() {
							for i := k; i < perRun; i += callers {
								if err := each(clients[h], fmt.Sprintf("host%d", h), i); err != nil {
									once.Do(func() { first = err })
									return
								}
							}
						})
					}
					wg.Wait()
					if first != nil {
						b.Fatal(first)
					}
					return time.Since(start)
				}
				before := be.total()
				took := run(func(c *ipam.Client, host string, i int) error {
					_, _, err := c.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: fmt.Sprintf("net.%d", i), Host: host,
						Attrs: map[string]string{"node": host, "pod": fmt.Sprintf("pod-%d", i)}})
					return err
				})
				assigned = append(assigned, perRun/took.Seconds())
				perAlloc = append(perAlloc, float64(be.total()-before)/perRun)
				before = be.total()
				took = run(func(c *ipam.Client, _ string, i int) error {
					_, err := c.ReleaseByHandle(ctx, fmt.Sprintf("net.%d", i))
					return err
				})
				released = append(released, perRun/took.Seconds())
				perRelease = append(perRelease, float64(be.total()-before)/perRun)
			}
			b.ReportMetric(median(assigned), "allocs/s")
			b.ReportMetric(median(perAlloc), "etcd-requests/alloc")
			b.ReportMetric(median(released), "releases/s")
			b.ReportMetric(median(perRelease), "etcd-requests/release")
		})
	}
}
