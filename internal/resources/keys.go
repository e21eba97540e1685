package resources

import (
	"fmt"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
)

// Prefix is the root of every v3 resource key in etcd.
const Prefix = "/calico/resources/v3/projectcalico.org/"

// Key returns the etcd key of a resource of the given kind:
// Prefix/<plural>/<name> for cluster-wide kinds and
// Prefix/<plural>/<namespace>/<name> for namespaced kinds. Policy kinds use
// the stored (tiered) form of the name: "allow-dns" in the default tier is
// stored as "default.allow-dns". Names that cannot
// be represented in a key (empty, or holding '/') are an error.
func Key(info *v3.KindInfo, namespace, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%s: metadata.name is required", info.Kind)
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("%s %q: metadata.name may not contain '/'", info.Kind, name)
	}
	if v3.IsPolicyKind(info.Kind) {
		// Policies are stored under their tiered name, as upstream does.
		name = v3.StoragePolicyName(name)
	}
	if !info.Namespaced {
		if namespace != "" {
			return "", fmt.Errorf("%s %q: metadata.namespace %q given, but %s is not a namespaced kind", info.Kind, name, namespace, info.Kind)
		}
		return Prefix + info.Plural + "/" + name, nil
	}
	if namespace == "" {
		return "", fmt.Errorf("%s %q: metadata.namespace is required", info.Kind, name)
	}
	if strings.Contains(namespace, "/") {
		return "", fmt.Errorf("%s %q: metadata.namespace %q may not contain '/'", info.Kind, name, namespace)
	}
	return Prefix + info.Plural + "/" + namespace + "/" + name, nil
}

// ListPrefix returns the key prefix holding every resource of a kind, or
// those of one namespace when namespace is not empty.
func ListPrefix(info *v3.KindInfo, namespace string) string {
	if info.Namespaced && namespace != "" {
		return Prefix + info.Plural + "/" + namespace + "/"
	}
	return Prefix + info.Plural + "/"
}

// ParseKey splits a resource key into its kind, namespace and name,
// unescaping %2f and %25 as upstream does. ok is false for keys that are not
// v3 resource keys of a known kind.
func ParseKey(key string) (info *v3.KindInfo, namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(key, Prefix)
	if !found {
		return nil, "", "", false
	}
	parts := strings.Split(rest, "/")
	info, known := v3.KindByPlural(parts[0])
	if !known {
		return nil, "", "", false
	}
	switch {
	case info.Namespaced && len(parts) == 3 && parts[1] != "" && parts[2] != "":
		return info, unescape(parts[1]), unescape(parts[2]), true
	case !info.Namespaced && len(parts) == 2 && parts[1] != "":
		return info, "", unescape(parts[1]), true
	}
	return nil, "", "", false
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	s = strings.ReplaceAll(s, "%2f", "/")
	s = strings.ReplaceAll(s, "%2F", "/")
	return strings.ReplaceAll(s, "%25", "%")
}

// KeyOf returns the key of a resource from its kind and metadata.
func KeyOf(r v3.Resource) (string, error) {
	info, ok := v3.LookupKind(r.GetTypeMeta().Kind)
	if !ok {
		return "", fmt.Errorf("unknown kind %q", r.GetTypeMeta().Kind)
	}
	m := r.GetObjectMeta()
	return Key(info, m.Namespace, m.Name)
}
