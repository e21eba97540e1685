package v3

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// fill sets every field reachable from v to a deterministic non-zero
// value, so that an encoded result shows every JSON field name.
func fill(v reflect.Value) {
	switch v.Addr().Interface().(type) {
	case *Port:
		v.Set(reflect.ValueOf(PortRange(8000, 8080)))
		return
	case *Protocol:
		v.Set(reflect.ValueOf(ProtocolFromString(ProtocolTCP)))
		return
	case *DSCP:
		v.Set(reflect.ValueOf(DSCP{Name: "EF"}))
		return
	case *Time:
		v.Set(reflect.ValueOf(NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))))
		return
	case *Duration:
		v.Set(reflect.ValueOf(Duration{90 * time.Second}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		m.SetMapIndex(reflect.ValueOf("k"), e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

// filled returns a resource of the kind with every field set.
func filled(k *KindInfo) Resource {
	r := k.New()
	fill(reflect.ValueOf(r).Elem())
	*r.GetTypeMeta() = TypeMeta{Kind: k.Kind, APIVersion: APIVersion}
	return r
}

// toGeneric converts JSON to maps, slices and json.Number.
func toGeneric(b []byte) (any, error) {
	return parseStrict(b)
}

// notPreserved lists the leaves of in that are missing from out or have
// another value there. Values omitted because they are zero (false, "",
// 0, empty lists and maps) count as preserved; numbers given as strings,
// and equal durations spelt differently, count as equal.
func notPreserved(in, out any, path string) []string {
	switch x := in.(type) {
	case map[string]any:
		o, ok := out.(map[string]any)
		if !ok {
			if out == nil && len(x) == 0 {
				return nil
			}
			return []string{fmt.Sprintf("%s: want an object, got %v", path, out)}
		}
		var diffs []string
		for _, k := range sortedKeys(x) {
			ov, present := o[k]
			if !present {
				if isZeroJSON(x[k]) {
					continue
				}
				diffs = append(diffs, fmt.Sprintf("%s: missing", joinPath(path, k)))
				continue
			}
			diffs = append(diffs, notPreserved(x[k], ov, joinPath(path, k))...)
		}
		return diffs
	case []any:
		o, ok := out.([]any)
		if !ok || len(o) != len(x) {
			return []string{fmt.Sprintf("%s: want %d items, got %v", path, len(x), out)}
		}
		var diffs []string
		for i := range x {
			diffs = append(diffs, notPreserved(x[i], o[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return diffs
	}
	if !scalarEqual(in, out) {
		return []string{fmt.Sprintf("%s: want %v, got %v", path, in, out)}
	}
	return nil
}

func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func scalarEqual(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	as, bs := fmt.Sprint(a), fmt.Sprint(b)
	if as == bs {
		return true // "6379" and 6379
	}
	da, errA := time.ParseDuration(strings.TrimSpace(as))
	db, errB := time.ParseDuration(strings.TrimSpace(bs))
	return errA == nil && errB == nil && da == db
}
