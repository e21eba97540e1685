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
	"sync"
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
	for _, c := range compiledFor(kind) {
		f := c.f
		if f.skip != nil && f.skip(r) {
			continue
		}
		base := Finding{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, What: f.What, Why: f.Why}
		if f.Path == "" {
			out = append(out, base)
			continue
		}
		walk(reflect.ValueOf(r).Elem(), c.segs, nil, func(v reflect.Value, idx []int) {
			if isUnset(v) {
				return
			}
			b, err := json.Marshal(v.Interface())
			if err != nil || slices.Contains(f.Quiet, string(b)) {
				return
			}
			fd := base
			fd.Path, fd.Value = pathOf(c.segs, idx), shorten(string(b))
			out = append(out, fd)
		})
	}
	return out
}

// compiled is an entry of the list with its path split once: Find runs
// on every update calico-node's agent and BGP side receive (10k remote
// endpoints and 1k policies at a cold start).
type compiled struct {
	f    *Field
	segs []string
}

// byKind holds the compiled entries of each kind, in list order.
var byKind = sync.OnceValue(func() map[string][]compiled {
	m := map[string][]compiled{}
	for i := range fields {
		f := &fields[i]
		m[f.Kind] = append(m[f.Kind], compiled{f: f, segs: splitPath(f.Path)})
	}
	return m
})

func compiledFor(kind string) []compiled { return byKind()[kind] }

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

// walk follows v along segs (JSON field names; "[]" for every list
// item) and calls visit with each value found and the list indexes on
// its way. Nil pointers and missing items end a branch.
func walk(v reflect.Value, segs []string, idx []int, visit func(reflect.Value, []int)) {
	if len(segs) == 0 {
		visit(v, idx)
		return
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	seg, rest := segs[0], segs[1:]
	if seg == "[]" {
		if v.Kind() != reflect.Slice {
			return
		}
		for i := range v.Len() {
			walk(v.Index(i), rest, append(idx, i), visit)
		}
		return
	}
	if v.Kind() != reflect.Struct {
		return
	}
	if fv, ok := fieldByJSONName(v, seg); ok {
		walk(fv, rest, idx, visit)
	}
}

// pathOf writes segs with the list indexes idx: "spec.ingress[3].http".
func pathOf(segs []string, idx []int) string {
	var b strings.Builder
	for _, s := range segs {
		if s == "[]" {
			b.WriteString("[" + strconv.Itoa(idx[0]) + "]")
			idx = idx[1:]
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// fieldByJSONName returns the field of struct v whose JSON name is name,
// looking into inlined (anonymous) structs.
func fieldByJSONName(v reflect.Value, name string) (reflect.Value, bool) {
	k := fieldKey{v.Type(), name}
	idx, ok := fieldIndexes.Load(k)
	if !ok {
		idx, _ = fieldIndexes.LoadOrStore(k, jsonFieldIndex(k.t, name))
	}
	path := idx.([]int)
	if path == nil {
		return reflect.Value{}, false
	}
	// The path runs through inlined structs only (values, not pointers),
	// so FieldByIndex cannot meet a nil pointer.
	return v.FieldByIndex(path), true
}

// fieldIndexes caches jsonFieldIndex by type and name ([]int; nil for
// no such field): the types are few and fixed.
var fieldIndexes sync.Map

type fieldKey struct {
	t    reflect.Type
	name string
}

// jsonFieldIndex is the index path of the field of struct type t whose
// JSON name is name, looking into inlined (anonymous) structs; nil when
// there is none.
func jsonFieldIndex(t reflect.Type, name string) []int {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if tag == "-" || !sf.IsExported() {
			continue
		}
		if tag == "" && sf.Anonymous {
			if sf.Type.Kind() != reflect.Struct {
				continue
			}
			if sub := jsonFieldIndex(sf.Type, name); sub != nil {
				return append([]int{i}, sub...)
			}
			continue
		}
		if tag == "" {
			tag = sf.Name
		}
		if tag == name {
			return []int{i}
		}
	}
	return nil
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
