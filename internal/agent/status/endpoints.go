package status

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/gocalico/calico/internal/datastore"
)

// EndpointStatus is the status of one local workload endpoint, as the
// agent computes it. The agent passes the full current set to
// Reporter.SetEndpoints.
type EndpointStatus struct {
	// Key identifies the endpoint ("<namespace>/<wepname>"). It names the
	// endpoint in logs and breaks ties between entries that map to the same
	// etcd key; the etcd key itself is derived from the three IDs below.
	Key string
	// Orchestrator is the WorkloadEndpoint's orchestrator ("k8s", "openstack", ...).
	Orchestrator string
	// Workload is "<namespace>/<workload>" (e.g. "default/web-0"); its "/"
	// is written as "%2f" in the key.
	Workload string
	// Endpoint is the WorkloadEndpoint's endpoint ID (e.g. "eth0").
	Endpoint string
	// Status is StatusUp, StatusDown or StatusError.
	Status string
}

func (e EndpointStatus) check() error {
	switch {
	case e.Orchestrator == "":
		return fmt.Errorf("endpoint %q: empty orchestrator", e.Key)
	case e.Workload == "":
		return fmt.Errorf("endpoint %q: empty workload", e.Key)
	case e.Endpoint == "":
		return fmt.Errorf("endpoint %q: empty endpoint ID", e.Key)
	case !validStatus(e.Status):
		return fmt.Errorf("endpoint %q: status %q is not up, down or error", e.Key, e.Status)
	}
	return nil
}

// desiredStatuses maps endpoint statuses to etcd keys of the given host.
// Invalid entries are left out and returned as errors; of two entries with
// the same etcd key the one with the smaller Key wins.
func desiredStatuses(region, host string, eps []EndpointStatus) (map[string]string, []error) {
	eps = slices.Clone(eps)
	slices.SortStableFunc(eps, func(a, b EndpointStatus) int { return cmp.Compare(a.Key, b.Key) })
	want := make(map[string]string, len(eps))
	owner := make(map[string]string, len(eps))
	var errs []error
	for _, e := range eps {
		if err := e.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		k := EndpointKey(region, host, e.Orchestrator, e.Workload, e.Endpoint)
		if prev, dup := owner[k]; dup {
			errs = append(errs, fmt.Errorf("endpoint %q: same status key as endpoint %q, ignored", e.Key, prev))
			continue
		}
		owner[k] = e.Key
		want[k] = e.Status
	}
	return want, errs
}

// endpointSet is the endpoint reporter's state: what should be in etcd,
// what is there as far as we know, and the keys that differ, in the order
// they will be written. It does no I/O. A key is queued once however
// often its status changes, and is written with its latest status: this
// is what coalesces flapping endpoints while writes are rate limited.
type endpointSet struct {
	// desired: etcd key -> status. nil until the agent's first full set
	// (nothing is written or cleaned up before that).
	desired map[string]string
	// realized: etcd key -> status in etcd; "" for a key whose value is
	// unknown (it could not be read, or a write to it failed and may
	// still have landed: a timeout, a lost leader): it is rewritten or
	// deleted. Valid only when listed.
	realized map[string]string
	listed   bool
	queue    []string
	queued   map[string]bool
}

// setDesired replaces the desired set.
func (s *endpointSet) setDesired(want map[string]string) {
	s.desired = want
	s.enqueueDiffs()
}

// load replaces what is known of etcd with a fresh listing of the host's
// endpoint status prefix and returns the values that could not be read.
func (s *endpointSet) load(kvs []*datastore.KV) []error {
	var errs []error
	s.realized = make(map[string]string, len(kvs))
	for _, kv := range kvs {
		st, err := decodeEndpointValue(kv.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", kv.Key, err))
		}
		s.realized[kv.Key] = st
	}
	s.listed = true
	s.enqueueDiffs()
	return errs
}

// forget drops what is known of etcd and every pending write (the
// endpoint keys were deleted wholesale, or must be listed again).
func (s *endpointSet) forget() {
	s.realized = nil
	s.listed = false
	s.queue = nil
	s.queued = nil
}

// differs reports whether key k needs a write.
func (s *endpointSet) differs(k string) bool {
	want, wok := s.desired[k]
	have, hok := s.realized[k]
	return wok != hok || want != have
}

// enqueueDiffs queues, in key order, every key that differs and is not
// queued yet.
func (s *endpointSet) enqueueDiffs() {
	if s.desired == nil || !s.listed {
		return
	}
	var add []string
	consider := func(k string) {
		if !s.queued[k] && s.differs(k) {
			add = append(add, k)
		}
	}
	for k := range s.desired {
		consider(k)
	}
	for k := range s.realized {
		if _, ok := s.desired[k]; !ok {
			consider(k)
		}
	}
	slices.Sort(add)
	if s.queued == nil {
		s.queued = make(map[string]bool)
	}
	for _, k := range add {
		s.queued[k] = true
		s.queue = append(s.queue, k)
	}
}

// next returns the first queued key that still differs, with its desired
// status ("" = delete). Keys that no longer differ are dropped on the way.
// The key stays queued until done or failed is called.
func (s *endpointSet) next() (key, status string, ok bool) {
	for len(s.queue) > 0 {
		k := s.queue[0]
		if s.differs(k) {
			return k, s.desired[k], true
		}
		s.pop()
	}
	return "", "", false
}

// done records that key now holds status in etcd ("" = deleted).
func (s *endpointSet) done(key, status string) {
	if status == "" {
		delete(s.realized, key)
	} else {
		s.realized[key] = status
	}
	if len(s.queue) > 0 && s.queue[0] == key {
		s.pop()
	}
}

// failed moves key to the back of the queue, so that one endpoint that
// cannot be written does not hold up the others. What the key holds is
// unknown now (a failed request may have been applied all the same), so
// it is written or deleted whatever is wanted next, even if that is what
// it held before.
func (s *endpointSet) failed(key string) {
	if s.realized != nil {
		s.realized[key] = ""
	}
	if len(s.queue) > 0 && s.queue[0] == key {
		s.queue = append(s.queue[1:], key)
	}
}

func (s *endpointSet) pop() {
	delete(s.queued, s.queue[0])
	s.queue = s.queue[1:]
}

// pending reports how many keys are queued.
func (s *endpointSet) pending() int { return len(s.queue) }
