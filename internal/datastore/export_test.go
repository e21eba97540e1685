package datastore

import "net"

// SetListPaging makes an etcd Backend read List in pages of n keys and
// call afterPage (if not nil) between pages.
func SetListPaging(be Backend, n int64, afterPage func()) {
	b := be.(*etcdBackend)
	b.pageSize = n
	b.afterPage = afterPage
}

// DefaultEndpointsFor is defaultEndpoints with another socket path.
var DefaultEndpointsFor = defaultEndpoints

// SetProbeResolver makes Reach's endpoint probes resolve names with r
// until the test ends.
func SetProbeResolver(t interface{ Cleanup(func()) }, r *net.Resolver) {
	old := probeResolver
	probeResolver = r
	t.Cleanup(func() { probeResolver = old })
}
