// Package resources is the typed Calico v3 resource client: it validates,
// defaults and stores resources in the upstream etcd key layout and reads
// them back, skipping (and counting) values it cannot understand.
package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
)

// Client reads and writes v3 resources through a datastore backend. Every
// write goes through the same defaulting and validation, whoever the writer
// is, and uses compare-and-swap on the resource's revision.
type Client struct {
	be      datastore.Backend
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	newUID  func() string
}

// Option configures a Client.
type Option func(*Client)

// WithLogger sets the logger for skipped values and retries.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithMetrics sets where skipped values are counted.
func WithMetrics(m *Metrics) Option { return func(c *Client) { c.metrics = m } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client over be.
func New(be datastore.Backend, opts ...Option) *Client {
	c := &Client{
		be:     be,
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
		newUID: func() string { return uuid.NewString() },
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Backend returns the underlying key/value backend.
func (c *Client) Backend() datastore.Backend { return c.be }

// Error is returned by Client operations: which resource, which operation,
// and the cause. The cause keeps datastore's sentinel errors matchable with
// errors.Is (datastore.ErrNotFound, ErrExists, ErrConflict) and validation
// failures as *v3.ValidationError with errors.As.
type Error struct {
	Op        string // create, update, apply, get, delete, list
	Kind      string
	Namespace string
	Name      string
	Err       error
}

func (e *Error) Error() string {
	id := e.Kind + "(" + e.Name + ")"
	if e.Namespace != "" {
		id = e.Kind + "(" + e.Namespace + "/" + e.Name + ")"
	}
	var ve *v3.ValidationError
	if errors.As(e.Err, &ve) {
		return ve.Error()
	}
	// The datastore's answers read as upstream prints them, without the
	// backend's key-level detail: "resource already exists: IPPool(p1)".
	for _, sentinel := range []error{datastore.ErrNotFound, datastore.ErrExists, datastore.ErrConflict} {
		if errors.Is(e.Err, sentinel) {
			return sentinel.Error() + ": " + id
		}
	}
	return e.Err.Error() + ": " + id
}

func (e *Error) Unwrap() error { return e.Err }

func opErr(op string, r v3.Resource, err error) error {
	m := r.GetObjectMeta()
	return &Error{Op: op, Kind: r.GetTypeMeta().Kind, Namespace: m.Namespace, Name: m.Name, Err: err}
}

func kindErr(op string, info *v3.KindInfo, ns, name string, err error) error {
	return &Error{Op: op, Kind: info.Kind, Namespace: ns, Name: name, Err: err}
}

// lookup resolves the kind of r and fills in TypeMeta.
func lookup(r v3.Resource) (*v3.KindInfo, error) {
	tm := r.GetTypeMeta()
	info, ok := v3.LookupKind(tm.Kind)
	if !ok || info.Kind != tm.Kind {
		return nil, fmt.Errorf("unknown kind %q", tm.Kind)
	}
	if tm.APIVersion == "" {
		tm.APIVersion = v3.APIVersion
	}
	return info, nil
}

// prepare defaults and validates r for a write and returns its key and
// stored bytes. It never modifies r: the caller's copy stays as given.
func (c *Client) prepare(ctx context.Context, r v3.Resource, creating bool) (v3.Resource, string, error) {
	r, key, err := Prepare(r)
	if err != nil {
		return nil, "", err
	}
	if err := c.checkReferences(ctx, r, creating); err != nil {
		return nil, "", err
	}
	return r, key, nil
}

// Prepare runs every check of a write that needs no datastore: known kind,
// workload endpoint name, defaults, validation, key format and stored
// size. It returns the defaulted copy that would be written and its key;
// r itself is not modified. Writers use it to check a whole batch before
// writing any of it.
func Prepare(r v3.Resource) (v3.Resource, string, error) {
	info, err := lookup(r)
	if err != nil {
		return nil, "", err
	}
	r = r.DeepCopyResource()
	if w, ok := r.(*v3.WorkloadEndpoint); ok {
		if err := v3.CompleteWorkloadEndpoint(w); err != nil {
			return nil, "", err
		}
	}
	v3.SetDefaults(r)
	if err := v3.Validate(r); err != nil {
		return nil, "", err
	}
	m := r.GetObjectMeta()
	key, err := Key(info, m.Namespace, m.Name)
	if err != nil {
		return nil, "", err
	}
	if _, err := encode(r); err != nil {
		return nil, "", err
	}
	return r, key, nil
}

// encode stamps the storage-only fields and marshals r as stored in etcd.
func encode(r v3.Resource) ([]byte, error) {
	s := r.DeepCopyResource()
	m := s.GetObjectMeta()
	m.ResourceVersion = ""
	m.SelfLink = ""
	v3.PolicyToStorage(s)
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if len(b) > v3.MaxResourceSize {
		return nil, fmt.Errorf("encoded resource is %d bytes, over the %d byte limit", len(b), v3.MaxResourceSize)
	}
	return b, nil
}

// Create stores a new resource; it fails with datastore.ErrExists if one of
// that kind and name is already there. It returns the stored resource with
// its resourceVersion, uid and creationTimestamp set.
func (c *Client) Create(ctx context.Context, r v3.Resource) (v3.Resource, error) {
	if r.GetObjectMeta().ResourceVersion != "" {
		return nil, opErr("create", r, errors.New("metadata.resourceVersion must not be set on create"))
	}
	p, key, err := c.prepare(ctx, r, true)
	if err != nil {
		return nil, opErr("create", r, err)
	}
	m := p.GetObjectMeta()
	if m.UID == "" {
		m.UID = c.newUID()
	}
	if m.CreationTimestamp.IsZero() {
		m.CreationTimestamp = v3.NewTime(c.now())
	}
	b, err := encode(p)
	if err != nil {
		return nil, opErr("create", r, err)
	}
	rev, err := c.be.Create(ctx, key, b, 0)
	if err != nil {
		return nil, opErr("create", r, err)
	}
	m.ResourceVersion = strconv.FormatInt(rev, 10)
	return p, nil
}

// Update replaces an existing resource. metadata.resourceVersion must be
// the revision the caller read: a concurrent writer makes it fail with
// datastore.ErrConflict. uid and creationTimestamp are carried over from
// the stored resource when the caller left them empty.
func (c *Client) Update(ctx context.Context, r v3.Resource) (v3.Resource, error) {
	return c.update(ctx, "update", r, nil)
}

func (c *Client) update(ctx context.Context, op string, r v3.Resource, existing v3.Resource) (v3.Resource, error) {
	rv := r.GetObjectMeta().ResourceVersion
	if rv == "" {
		return nil, opErr(op, r, errors.New("metadata.resourceVersion is required for update"))
	}
	rev, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || rev <= 0 {
		return nil, opErr(op, r, fmt.Errorf("metadata.resourceVersion %q: not a revision", rv))
	}
	p, key, err := c.prepare(ctx, r, false)
	if err != nil {
		return nil, opErr(op, r, err)
	}
	if existing == nil {
		existing, err = c.getKey(ctx, key)
		if err != nil {
			return nil, opErr(op, r, err)
		}
	}
	if err := checkImmutable(existing, p); err != nil {
		return nil, opErr(op, r, err)
	}
	m, em := p.GetObjectMeta(), existing.GetObjectMeta()
	if m.UID == "" {
		m.UID = em.UID
	}
	if m.CreationTimestamp.IsZero() {
		m.CreationTimestamp = em.CreationTimestamp
	}
	b, err := encode(p)
	if err != nil {
		return nil, opErr(op, r, err)
	}
	newRev, err := c.be.Update(ctx, key, b, rev, 0)
	if err != nil {
		return nil, opErr(op, r, err)
	}
	m.ResourceVersion = strconv.FormatInt(newRev, 10)
	return p, nil
}

// Apply creates the resource or, if it exists, replaces its content. When
// the caller gives no resourceVersion, Apply retries a few times on
// conflicts, so it behaves like `kubectl apply`/`calicoctl apply`.
func (c *Client) Apply(ctx context.Context, r v3.Resource) (v3.Resource, error) {
	info, err := lookup(r)
	if err != nil {
		return nil, opErr("apply", r, err)
	}
	m := r.GetObjectMeta()
	pinned := m.ResourceVersion != ""
	for attempt := 0; ; attempt++ {
		name := m.Name
		if w, ok := r.(*v3.WorkloadEndpoint); ok && name == "" {
			cp := w.DeepCopyResource().(*v3.WorkloadEndpoint)
			if err := v3.CompleteWorkloadEndpoint(cp); err != nil {
				return nil, opErr("apply", r, err)
			}
			name = cp.Metadata.Name
		}
		key, err := Key(info, m.Namespace, name)
		if err != nil {
			return nil, opErr("apply", r, err)
		}
		existing, err := c.getKey(ctx, key)
		if errors.Is(err, datastore.ErrNotFound) && !pinned {
			out, err := c.Create(ctx, r)
			if errors.Is(err, datastore.ErrExists) && attempt < 5 {
				continue
			}
			return out, err
		}
		if err != nil {
			return nil, opErr("apply", r, err)
		}
		u := r.DeepCopyResource()
		if !pinned {
			u.GetObjectMeta().ResourceVersion = existing.GetObjectMeta().ResourceVersion
		}
		out, err := c.update(ctx, "apply", u, existing)
		if errors.Is(err, datastore.ErrConflict) && !pinned && attempt < 5 {
			continue
		}
		return out, err
	}
}

// Get reads one resource. namespace is ignored for cluster-wide kinds.
// The virtual profile projectcalico-default-allow is always found.
func (c *Client) Get(ctx context.Context, kind, namespace, name string) (v3.Resource, error) {
	info, ok := v3.LookupKind(kind)
	if !ok {
		return nil, fmt.Errorf("get: unknown kind %q", kind)
	}
	if !info.Namespaced {
		namespace = ""
	}
	if info.Kind == "Profile" && name == v3.DefaultAllowProfileName {
		return v3.DefaultAllowProfile(), nil
	}
	key, err := Key(info, namespace, name)
	if err != nil {
		return nil, kindErr("get", info, namespace, name, err)
	}
	r, err := c.getKey(ctx, key)
	if err != nil {
		return nil, kindErr("get", info, namespace, name, err)
	}
	return r, nil
}

func (c *Client) getKey(ctx context.Context, key string) (v3.Resource, error) {
	kv, err := c.be.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return c.DecodeKV(kv.Key, kv.Value, kv.ModRevision)
}

// Delete removes a resource. A non-empty resourceVersion makes the delete
// conditional on it. It returns the resource as it was.
func (c *Client) Delete(ctx context.Context, kind, namespace, name, resourceVersion string) (v3.Resource, error) {
	info, ok := v3.LookupKind(kind)
	if !ok {
		return nil, fmt.Errorf("delete: unknown kind %q", kind)
	}
	if !info.Namespaced {
		namespace = ""
	}
	if info.Kind == "Profile" && name == v3.DefaultAllowProfileName {
		return nil, kindErr("delete", info, namespace, name, errors.New("the profile projectcalico-default-allow is built in and cannot be deleted"))
	}
	key, err := Key(info, namespace, name)
	if err != nil {
		return nil, kindErr("delete", info, namespace, name, err)
	}
	var rev int64
	if resourceVersion != "" {
		if rev, err = strconv.ParseInt(resourceVersion, 10, 64); err != nil {
			return nil, kindErr("delete", info, namespace, name, fmt.Errorf("resourceVersion %q: not a revision", resourceVersion))
		}
	}
	kv, err := c.be.Delete(ctx, key, rev)
	if err != nil {
		return nil, kindErr("delete", info, namespace, name, err)
	}
	if kv == nil || len(kv.Value) == 0 {
		return nil, nil
	}
	prev, err := c.DecodeKV(kv.Key, kv.Value, kv.ModRevision)
	if err != nil {
		// The resource is gone; its old value was not readable.
		return nil, nil
	}
	return prev, nil
}
