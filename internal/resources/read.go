package resources

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/selector"
)

// Metrics counts what the client skips.
type Metrics struct {
	InvalidValues *prometheus.CounterVec
}

// NewMetrics registers the client's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		InvalidValues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calico_datastore_invalid_values_total",
			Help: "Values found in the datastore that could not be decoded and were skipped.",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.InvalidValues)
	}
	return m
}

// DecodeKV turns a stored value back into a resource: it decodes the JSON
// leniently (fields from newer writers are ignored), checks that the kind
// matches the key, restores policy names from their storage form and sets
// resourceVersion to the key's mod revision. Name and namespace come from
// the key, as upstream does.
func (c *Client) DecodeKV(key string, value []byte, modRevision int64) (v3.Resource, error) {
	info, ns, name, ok := ParseKey(key)
	if !ok {
		return nil, fmt.Errorf("key %s: not a v3 resource key", key)
	}
	r, err := v3.Decode(value)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	if got := r.GetTypeMeta().Kind; got != info.Kind {
		return nil, fmt.Errorf("key %s: value has kind %q, want %q", key, got, info.Kind)
	}
	v3.PolicyFromStorage(r)
	m := r.GetObjectMeta()
	// The policy storage form may carry the name in an annotation; for
	// every other kind the key is authoritative.
	if !v3.IsPolicyKind(info.Kind) {
		m.Name = name
	}
	m.Namespace = ns
	m.ResourceVersion = strconv.FormatInt(modRevision, 10)
	return r, nil
}

func (c *Client) skipped(kind, key string, err error) {
	c.log.Warn("skipping unreadable value in datastore", "key", key, "error", err)
	if c.metrics != nil {
		c.metrics.InvalidValues.WithLabelValues(kind).Inc()
	}
}

// ListOptions narrows a List.
type ListOptions struct {
	// Namespace limits a namespaced kind to one namespace; empty = all.
	Namespace string
	// Selector filters on labels (nil = everything).
	Selector selector.Selector
}

// List returns every readable resource of a kind, sorted by namespace and
// name, and the datastore revision of the snapshot. Values that cannot be
// decoded are logged, counted and skipped. Profile lists include the
// virtual projectcalico-default-allow profile.
func (c *Client) List(ctx context.Context, kind string, opts ListOptions) ([]v3.Resource, int64, error) {
	info, ok := v3.LookupKind(kind)
	if !ok {
		return nil, 0, fmt.Errorf("list: unknown kind %q", kind)
	}
	kvs, rev, err := c.be.List(ctx, ListPrefix(info, opts.Namespace))
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", info.Plural, err)
	}
	out := make([]v3.Resource, 0, len(kvs)+1)
	for _, kv := range kvs {
		r, err := c.DecodeKV(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			c.skipped(info.Kind, kv.Key, err)
			continue
		}
		if opts.Selector != nil && !opts.Selector.Evaluate(r.GetObjectMeta().Labels) {
			continue
		}
		out = append(out, r)
	}
	if info.Kind == "Profile" {
		p := v3.DefaultAllowProfile()
		if opts.Selector == nil || opts.Selector.Evaluate(p.Metadata.Labels) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].GetObjectMeta(), out[j].GetObjectMeta()
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, rev, nil
}
