package v3

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDeepCopy checks, for every kind with every field set, that the copy
// is equal and shares no pointer, slice or map with the original.
func TestDeepCopy(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.Kind, func(t *testing.T) {
			orig := filled(k)
			cp := orig.DeepCopyResource()
			if diff := cmp.Diff(orig, cp); diff != "" {
				t.Fatalf("copy differs (-orig +copy):\n%s", diff)
			}
			if p := sharedRef(reflect.ValueOf(orig), reflect.ValueOf(cp), k.Kind); p != "" {
				t.Errorf("copy shares memory with the original at %s", p)
			}
		})
	}
}

// sharedRef returns the path of the first pointer, slice or map that a and
// b share, or "".
func sharedRef(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return sharedRef(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Len() == 0 || b.Len() == 0 {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for i := range a.Len() {
			if p := sharedRef(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if p := sharedRef(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestDeepCopyNil(t *testing.T) {
	var p *IPPool
	if p.DeepCopy() != nil {
		t.Error("DeepCopy of nil is not nil")
	}
}
