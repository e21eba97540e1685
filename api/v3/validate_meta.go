package v3

import (
	"regexp"
	"strings"
)

const (
	labelFmt     = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	subdomainFmt = labelFmt + `(\.` + labelFmt + `)*`
	// qualifiedNameFmt is the name part of a label key and a label value.
	qualifiedNameFmt = `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`

	maxNameLen        = 253
	maxLabelLen       = 63
	maxAnnotationSize = 256 * 1024
)

var (
	labelRE         = regexp.MustCompile(`^` + labelFmt + `$`)
	subdomainRE     = regexp.MustCompile(`^` + subdomainFmt + `$`)
	qualifiedNameRE = regexp.MustCompile(`^` + qualifiedNameFmt + `$`)
	// Policy names: "label" or "label.label"; NetworkPolicy also allows the
	// Kubernetes-derived forms "knp.default.<subdomain>" and
	// "ossg.default.<subdomain>".
	policyNameRE      = regexp.MustCompile(`^` + labelFmt + `(\.` + labelFmt + `)?$`)
	k8sPolicyPrefixRE = regexp.MustCompile(`^(knp|ossg)\.default\.`)
)

// isDNSLabel reports whether s is a DNS-1123 label of at most max bytes.
func isDNSLabel(s string, max int) bool { return len(s) <= max && labelRE.MatchString(s) }

// isSubdomain reports whether s is a DNS-1123 subdomain.
func isSubdomain(s string) bool { return len(s) <= maxNameLen && subdomainRE.MatchString(s) }

// meta checks names, namespaces, labels and annotations.
func (v *validator) meta(info *KindInfo, m *ObjectMeta) {
	v.name(info.Kind, m.Name)
	if m.GenerateName != "" {
		v.add("metadata.generateName", m.GenerateName, "is not supported: set metadata.name")
	}
	switch {
	case info.Namespaced && m.Namespace == "":
		v.add("metadata.namespace", nil, "is required for %s", info.Kind)
	case info.Namespaced && !isDNSLabel(m.Namespace, maxLabelLen):
		v.add("metadata.namespace", m.Namespace, "must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")
	case !info.Namespaced && m.Namespace != "":
		v.add("metadata.namespace", m.Namespace, "must be empty: %s is not namespaced", info.Kind)
	}
	v.labels("metadata.labels", m.Labels)
	v.annotations("metadata.annotations", m.Annotations)
}

// name checks metadata.name against the rules of the kind.
func (v *validator) name(kind, name string) {
	const path = "metadata.name"
	if name == "" {
		v.add(path, nil, "is required")
		return
	}
	switch kind {
	case KindTier:
		if !isDNSLabel(name, maxLabelLen) {
			v.add(path, name, "must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")
		}
		return
	case KindNetworkPolicy, KindStagedNetworkPolicy:
		if loc := k8sPolicyPrefixRE.FindStringIndex(name); loc != nil {
			if !isSubdomain(name) || !isSubdomain(name[loc[1]:]) {
				v.add(path, name, "must be knp.default.<name> or ossg.default.<name> with a DNS subdomain name")
			}
			return
		}
		fallthrough
	case KindGlobalNetworkPolicy, KindStagedGlobalNetworkPolicy:
		if !policyNameRE.MatchString(name) || !policyLabelsFit(name) {
			v.add(path, name, "must be a DNS label or two DNS labels joined by '.' (each at most 63 lowercase letters, digits and '-')")
		}
		return
	case KindClusterInformation, KindKubeControllersConfiguration:
		if name != "default" {
			v.add(path, name, "must be \"default\"")
		}
		return
	}
	if !isSubdomain(name) {
		v.add(path, name, "must be a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 characters, each part starting and ending with a letter or digit")
	}
}

func policyLabelsFit(name string) bool {
	for _, l := range strings.Split(name, ".") {
		if len(l) > maxLabelLen {
			return false
		}
	}
	return true
}

// qualifiedNameProblem explains why s is not a Kubernetes qualified name
// ([prefix/]name), or returns "".
func qualifiedNameProblem(s string) string {
	prefix, name, hasPrefix := strings.Cut(s, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	switch {
	case hasPrefix && (prefix == "" || !isSubdomain(prefix)):
		return "prefix before '/' must be a DNS subdomain"
	case name == "":
		return "name part must not be empty"
	case len(name) > maxLabelLen:
		return "name part must be at most 63 characters"
	case !qualifiedNameRE.MatchString(name):
		return "name part must consist of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	}
	return ""
}

// labels checks label keys and values.
func (v *validator) labels(path string, labels map[string]string) {
	for _, k := range sortedStringKeys(labels) {
		p := path + "[" + quote(k) + "]"
		if why := qualifiedNameProblem(k); why != "" {
			v.add(p, k, "invalid label key: %s", why)
		}
		val := labels[k]
		if len(val) > maxLabelLen {
			v.add(p, val, "invalid label value: must be at most 63 characters")
		} else if val != "" && !qualifiedNameRE.MatchString(val) {
			v.add(p, val, "invalid label value: must be empty or letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
		}
	}
}

// annotations checks annotation keys and the total size.
func (v *validator) annotations(path string, ann map[string]string) {
	size := 0
	for _, k := range sortedStringKeys(ann) {
		size += len(k) + len(ann[k])
		if why := qualifiedNameProblem(strings.ToLower(k)); why != "" {
			v.add(path+"["+quote(k)+"]", k, "invalid annotation key: %s", why)
		}
	}
	if size > maxAnnotationSize {
		v.add(path, nil, "total size %d bytes exceeds %d bytes", size, maxAnnotationSize)
	}
}
