package v3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

// parseStrict parses one YAML or JSON document into generic values (maps,
// slices, json.Number, string, bool, nil), rejecting duplicate keys.
func parseStrict(data []byte) (any, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' && trimmed[0] != '[' {
		j, err := yaml.YAMLToJSONStrict(data)
		if err != nil {
			return nil, err
		}
		trimmed = j
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	v, err := readJSONValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one document: split them first")
	}
	return v, nil
}

// readJSONValue reads one value token by token so that duplicate object
// keys, which encoding/json silently merges, are caught.
func readJSONValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %w", err)
				}
				k := kt.(string)
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				if m[k], err = readJSONValue(dec); err != nil {
					return nil, err
				}
			}
			_, err := dec.Token()
			return m, err
		case '[':
			s := []any{}
			for dec.More() {
				v, err := readJSONValue(dec)
				if err != nil {
					return nil, err
				}
				s = append(s, v)
			}
			_, err := dec.Token()
			return s, err
		}
		return nil, fmt.Errorf("invalid JSON: unexpected %v", t)
	default:
		return t, nil
	}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// typeOfResource returns the struct type behind a Resource pointer.
func typeOfResource(r Resource) reflect.Type { return reflect.TypeOf(r).Elem() }

// checkValue reports every place where generic value v cannot be decoded
// into type t: unknown fields and values of the wrong JSON type.
func checkValue(v any, t reflect.Type, path string, errs *[]FieldError) {
	if v == nil {
		return // null leaves the field at its zero value
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(unmarshalerType) {
		j, err := json.Marshal(v)
		if err == nil {
			err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(j)
		}
		if err != nil {
			*errs = append(*errs, FieldError{Path: path, Value: v, Reason: err.Error()})
		}
		return
	}
	bad := func(want string) {
		reason := fmt.Sprintf("must be %s, not %s", want, jsonTypeName(v))
		if t.Kind() == reflect.String {
			reason += " (quote it)" // YAML reads 1.10, yes and on unquoted as numbers and booleans
		}
		*errs = append(*errs, FieldError{Path: path, Value: v, Reason: reason})
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkValue(v, t.Elem(), path, errs)
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			bad("an integer")
		} else if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			*errs = append(*errs, FieldError{Path: path, Value: v, Reason: fmt.Sprintf("must be an integer that fits in %d bits", t.Bits())})
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			bad("a non-negative integer")
		} else if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			max := uint64(1)<<t.Bits() - 1
			*errs = append(*errs, FieldError{Path: path, Value: v, Reason: fmt.Sprintf("must be an integer 0-%d", max)})
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			bad("a number")
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			bad("a list")
			return
		}
		for i, e := range s {
			checkValue(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			bad("a map")
			return
		}
		for _, k := range sortedKeys(m) {
			checkValue(m[k], t.Elem(), fmt.Sprintf("%s[%q]", path, k), errs)
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		fields := jsonFieldsOf(t)
		for _, k := range sortedKeys(m) {
			p := joinPath(path, k)
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Path: p, Reason: unknownFieldReason(k, fields)})
				continue
			}
			checkValue(m[k], ft, p, errs)
		}
	default:
		bad(t.Kind().String())
	}
}

func unknownFieldReason(k string, fields map[string]reflect.Type) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf("unknown field (did you mean %q?)", name)
		}
	}
	return "unknown field"
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFieldsOf maps each JSON field name of struct t to its type, with
// embedded untagged structs (TypeMeta) inlined as encoding/json does.
func jsonFieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFieldsOf(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	fieldCache.Store(t, fields)
	return fields
}
