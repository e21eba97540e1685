package v3

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// MaxResourceSize is the largest encoded resource accepted, a little under
// etcd's default request size limit.
const MaxResourceSize = 1536 * 1024

// FieldError is one problem found in a resource.
type FieldError struct {
	Path   string // e.g. "spec.ingress[0].destination.ports[1]"; empty for the whole resource
	Value  any    // the offending value, or nil
	Reason string
}

// String renders the error as `path "value": reason`.
func (e FieldError) String() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Value != nil {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(formatValue(e.Value))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case fmt.Stringer:
		return fmt.Sprintf("%q", x.String())
	case json.Number:
		return string(x)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprintf("%v", v)
}

// ValidationError lists every problem found in one resource.
type ValidationError struct {
	Kind, Name string
	Errors     []FieldError
}

// Error renders `Kind "name": path "value": reason; ...`.
func (e *ValidationError) Error() string { return formatFieldErrors(e.Kind, e.Name, e.Errors) }

// formatFieldErrors renders `Kind "name": path "value": reason; ...`.
func formatFieldErrors(kind, name string, errs []FieldError) string {
	var b strings.Builder
	b.WriteString(kind)
	if name != "" {
		fmt.Fprintf(&b, " %q", name)
	}
	b.WriteString(": ")
	for i, fe := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.String())
	}
	return b.String()
}

// validator collects field errors.
type validator struct {
	errs []FieldError
}

func (v *validator) add(path string, value any, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Value: value, Reason: fmt.Sprintf(format, args...)})
}

// Validate checks a resource against upstream's validation rules that need
// nothing but the resource itself (pool overlap and tier existence are the
// datastore's checks). It returns a *ValidationError listing every problem,
// or nil.
func Validate(r Resource) error {
	if isNil(r) {
		return &ValidationError{Errors: []FieldError{{Reason: "no resource"}}}
	}
	tm := r.GetTypeMeta()
	info, ok := kindOf(r)
	if !ok {
		return &ValidationError{Kind: tm.Kind, Errors: []FieldError{{Path: "kind", Value: tm.Kind, Reason: "unknown kind"}}}
	}
	v := &validator{}
	if tm.Kind != info.Kind {
		v.add("kind", tm.Kind, "must be %q", info.Kind)
	}
	if tm.APIVersion != APIVersion {
		v.add("apiVersion", tm.APIVersion, "must be %q", APIVersion)
	}
	v.meta(info, r.GetObjectMeta())
	v.spec(r)
	if b, err := json.Marshal(r); err != nil {
		v.add("", nil, "cannot be encoded: %v", err)
	} else if len(b) > MaxResourceSize {
		v.add("", nil, "encoded size %d bytes exceeds the limit of %d bytes", len(b), MaxResourceSize)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Kind: info.Kind, Name: r.GetObjectMeta().Name, Errors: v.errs}
}

// isNil reports whether r is nil or a nil pointer.
func isNil(r Resource) bool {
	if r == nil {
		return true
	}
	v := reflect.ValueOf(r)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// kindOf finds the registry entry for r's Go type.
func kindOf(r Resource) (*KindInfo, bool) {
	k, ok := byType[typeOfResource(r)]
	return k, ok
}

// spec dispatches to the per-kind checks.
func (v *validator) spec(r Resource) {
	if m, tier, ok := policyParts(r); ok {
		v.policyNameInTier(m.Name, *tier)
	}
	switch o := r.(type) {
	case *Node:
		v.node(o)
	case *WorkloadEndpoint:
		v.workloadEndpoint(o)
	case *HostEndpoint:
		v.hostEndpoint(&o.Spec)
	case *Profile:
		v.profile(&o.Spec)
	case *NetworkPolicy:
		v.networkPolicy(&o.Spec)
	case *StagedNetworkPolicy:
		v.stagedAction(o.Spec.StagedAction)
		v.networkPolicy(&NetworkPolicySpec{
			Tier: o.Spec.Tier, Order: o.Spec.Order, Ingress: o.Spec.Ingress, Egress: o.Spec.Egress,
			Selector: o.Spec.Selector, Types: o.Spec.Types, ServiceAccountSelector: o.Spec.ServiceAccountSelector,
			PerformanceHints: o.Spec.PerformanceHints,
		})
	case *GlobalNetworkPolicy:
		v.globalNetworkPolicy(&o.Spec)
	case *StagedGlobalNetworkPolicy:
		v.stagedAction(o.Spec.StagedAction)
		v.globalNetworkPolicy(&GlobalNetworkPolicySpec{
			Tier: o.Spec.Tier, Order: o.Spec.Order, Ingress: o.Spec.Ingress, Egress: o.Spec.Egress,
			Selector: o.Spec.Selector, Types: o.Spec.Types, DoNotTrack: o.Spec.DoNotTrack, PreDNAT: o.Spec.PreDNAT,
			ApplyOnForward: o.Spec.ApplyOnForward, ServiceAccountSelector: o.Spec.ServiceAccountSelector,
			NamespaceSelector: o.Spec.NamespaceSelector, PerformanceHints: o.Spec.PerformanceHints,
		})
	case *NetworkSet:
		v.networkSet(&o.Metadata, o.Spec.Nets)
	case *GlobalNetworkSet:
		v.networkSet(&o.Metadata, o.Spec.Nets)
	case *Tier:
		v.tier(&o.Spec)
	case *IPPool:
		v.ipPool(&o.Spec)
	case *IPReservation:
		v.ipReservation(&o.Spec)
	case *BGPConfiguration:
		v.bgpConfiguration(o.Metadata.Name, &o.Spec)
	case *BGPPeer:
		v.bgpPeer(&o.Spec)
	case *BGPFilter:
		v.bgpFilter(&o.Spec)
	case *FelixConfiguration:
		v.felixConfiguration(&o.Spec)
	case *ClusterInformation:
		v.clusterInformation(&o.Spec)
	case *KubeControllersConfiguration:
		v.kubeControllers(&o.Spec, "spec")
		if o.Status.RunningConfig != nil {
			v.kubeControllers(o.Status.RunningConfig, "status.runningConfig")
		}
	}
}
