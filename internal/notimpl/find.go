// Package notimpl is the one list of what this version accepts and stores
// but does not act on (fields, and whole kinds), and finds those set in a
// resource: calicoctl warns about them when writing, calico-node's agent
// and BGP daemon log them once per object. The list shrinks as features
// land.
package notimpl

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	v3 "github.com/gocalico/calico/api/v3"
)

// Finding is one listed field set, in one resource, to a value that needs
// a warning.
type Finding struct {
	Kind, Namespace, Name string
	// Path is the field with list indexes, e.g. "spec.ingress[0].http";
	// empty for a whole object.
	Path string
	// Value is the field's value as JSON, shortened when long.
	Value string
	// What replaces "<path> <value>" in the message (whole objects).
	What string
	Why  string
}

// Object names the resource: IPPool "p1", NetworkPolicy "prod/web".
func (f Finding) Object() string {
	if f.Namespace != "" {
		return fmt.Sprintf("%s %q", f.Kind, f.Namespace+"/"+f.Name)
	}
	return fmt.Sprintf("%s %q", f.Kind, f.Name)
}

// Subject is what is not implemented: `spec.vxlanMode "Always"`, or for a
// whole object the entry's description.
func (f Finding) Subject() string {
	switch {
	case f.What != "":
		return f.What
	case f.Path == "":
		return "the kind " + f.Kind
	}
	return f.Path + " " + f.Value
}

// String is the whole sentence: IPPool "p1": spec.vxlanMode "Always" is
// not implemented by this version; stored but not acted on (why).
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s is not implemented by this version; stored but not acted on (%s)", f.Object(), f.Subject(), f.Why)
}

// maxValue bounds the length of a value shown in a message.
const maxValue = 80

// Find returns the listed fields r sets to values that need a warning, in
// list order (list items in index order).
func Find(r v3.Resource) []Finding {
	if r == nil || reflect.ValueOf(r).IsNil() {
		return nil
	}
	kind := r.GetTypeMeta().Kind
	meta := r.GetObjectMeta()
	var out []Finding
	for i := range fields {
		f := &fields[i]
		if f.Kind != kind || f.skip != nil && f.skip(r) {
			continue
		}
		base := Finding{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, What: f.What, Why: f.Why}
		if f.Path == "" {
			out = append(out, base)
			continue
		}
		for _, leaf := range resolve(reflect.ValueOf(r).Elem(), splitPath(f.Path), "") {
			if isUnset(leaf.v) {
				continue
			}
			b, err := json.Marshal(leaf.v.Interface())
			if err != nil || slices.Contains(f.Quiet, string(b)) {
				continue
			}
			fd := base
			fd.Path, fd.Value = leaf.path, shorten(string(b))
			out = append(out, fd)
		}
	}
	return out
}

// splitPath splits "spec.ingress[].http" into "spec", "ingress", "[]",
// "http".
func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, ".") {
		if name, ok := strings.CutSuffix(s, "[]"); ok {
			out = append(out, name, "[]")
		} else {
			out = append(out, s)
		}
	}
	return out
}

type leaf struct {
	path string
	v    reflect.Value
}

// resolve walks v along segs (JSON field names; "[]" for every list
// item) and returns the values found, with their paths. Nil pointers and
// missing items end a branch.
func resolve(v reflect.Value, segs []string, at string) []leaf {
	if len(segs) == 0 {
		return []leaf{{at, v}}
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	seg, rest := segs[0], segs[1:]
	if seg == "[]" {
		if v.Kind() != reflect.Slice {
			return nil
		}
		var out []leaf
		for i := range v.Len() {
			out = append(out, resolve(v.Index(i), rest, at+"["+strconv.Itoa(i)+"]")...)
		}
		return out
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	fv, ok := fieldByJSONName(v, seg)
	if !ok {
		return nil
	}
	next := seg
	if at != "" {
		next = at + "." + seg
	}
	return resolve(fv, rest, next)
}

// fieldByJSONName returns the field of struct v whose JSON name is name,
// looking into inlined (anonymous) structs.
func fieldByJSONName(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if tag == "-" || !sf.IsExported() {
			continue
		}
		if tag == "" && sf.Anonymous {
			if fv, ok := fieldByJSONName(v.Field(i), name); ok {
				return fv, true
			}
			continue
		}
		if tag == "" {
			tag = sf.Name
		}
		if tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// isUnset: a nil pointer (a pointer to a zero value is set: false for a
// *bool), an empty list or map, or the zero value of anything else.
func isUnset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer:
		return v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

func shorten(s string) string {
	if len(s) <= maxValue {
		return s
	}
	cut := maxValue - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
