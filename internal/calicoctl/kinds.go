package calicoctl

import (
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/resources"
)

// lookupKind resolves a kind as typed by a user: any case, singular,
// plural or short name.
func lookupKind(s string) (*v3.KindInfo, error) {
	info, ok := v3.LookupKind(s)
	if !ok {
		return nil, usagef("unknown resource kind %q; known kinds: %s", s, strings.Join(kindNames(), ", "))
	}
	return info, nil
}

// kindNames lists every kind, lower case, for messages.
func kindNames() []string {
	var out []string
	for _, k := range v3.Kinds() {
		out = append(out, strings.ToLower(k.Kind))
	}
	return out
}

// namedItems builds items for resources named on the command line.
func namedItems(kind string, names []string, namespace string) ([]item, error) {
	info, err := lookupKind(kind)
	if err != nil {
		return nil, err
	}
	if !info.Namespaced {
		namespace = ""
	}
	items := make([]item, 0, len(names))
	for _, n := range names {
		key, err := resources.Key(info, namespace, n)
		if err != nil {
			return nil, usagef("%v", err)
		}
		items = append(items, item{kind: info.Kind, namespace: namespace, name: n, group: key})
	}
	return items, nil
}
