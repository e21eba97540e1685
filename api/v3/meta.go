package v3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Group is the API group of every kind in this package.
const Group = "projectcalico.org"

// APIVersion is the apiVersion written on every resource.
const APIVersion = Group + "/v3"

// TypeMeta names a resource's kind and API version.
type TypeMeta struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// GetTypeMeta returns t itself; it is promoted into every kind.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// ObjectMeta is the Kubernetes-style metadata carried by every resource.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty"`
	GenerateName               string            `json:"generateName,omitempty"`
	Namespace                  string            `json:"namespace,omitempty"`
	SelfLink                   string            `json:"selfLink,omitempty"`
	UID                        string            `json:"uid,omitempty"`
	ResourceVersion            string            `json:"resourceVersion,omitempty"`
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          Time              `json:"creationTimestamp,omitzero"`
	DeletionTimestamp          *Time             `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
}

// DeepCopy returns a copy of m sharing no maps or slices with it.
func (m *ObjectMeta) DeepCopy() *ObjectMeta { return deepCopy(m) }

// OwnerReference points at the object that owns a resource.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ListMeta is the metadata of a list of resources.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// Resource is implemented by a pointer to every kind in this package.
type Resource interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
	DeepCopyResource() Resource
}

// Time is a timestamp serialised as RFC 3339 in UTC with whole seconds, or
// null when zero, like the Kubernetes metav1.Time.
type Time struct {
	time.Time
}

// NewTime returns t in UTC truncated to whole seconds.
func NewTime(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}
	return Time{t.UTC().Truncate(time.Second)}
}

// Equal reports whether t and u are the same instant (or both zero).
func (t Time) Equal(u Time) bool { return t.Time.Equal(u.Time) }

// MarshalJSON writes the RFC 3339 form, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON reads an RFC 3339 string or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp must be an RFC 3339 string: %w", err)
	}
	if s == "" {
		*t = Time{}
		return nil
	}
	p, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("timestamp %q: not RFC 3339", s)
	}
	*t = NewTime(p)
	return nil
}

// Duration is a time.Duration serialised as a Go duration string ("90s"),
// like the Kubernetes metav1.Duration.
type Duration struct {
	time.Duration
}

// NewDuration wraps d.
func NewDuration(d time.Duration) *Duration { return &Duration{d} }

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.Duration.String())
}

// UnmarshalJSON reads a duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"90s\": %w", err)
	}
	p, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: not a duration such as \"90s\"", s)
	}
	d.Duration = p
	return nil
}
