package v3

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Decode reads one resource as stored in etcd (JSON; YAML is accepted too).
// It is lenient: unknown fields are ignored, as a reader of data written by
// a newer version must. The kind comes from the "kind" field; an unknown
// kind or an apiVersion other than projectcalico.org/v3 is an error.
func Decode(data []byte) (Resource, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] != '{' {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("decode resource: %w", err)
		}
		data = j
	}
	var tm TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	info, err := checkTypeMeta(tm)
	if err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	r := info.New()
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", info.Kind, err)
	}
	return r, nil
}

// DecodeStrict reads one resource given by a user, as YAML or JSON. Unknown
// fields, duplicate keys and values of the wrong type are errors that name
// the field path (a *DecodeError); nothing is defaulted or validated.
func DecodeStrict(data []byte) (Resource, error) {
	v, err := parseStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decode resource: document is %s, not an object with kind, apiVersion, metadata and spec", jsonTypeName(v))
	}
	var tm TypeMeta
	tm.Kind, _ = obj["kind"].(string)
	tm.APIVersion, _ = obj["apiVersion"].(string)
	info, err := checkTypeMeta(tm)
	if err != nil {
		return nil, fmt.Errorf("decode resource: %w", err)
	}
	r := info.New()
	var errs []FieldError
	checkValue(obj, typeOfResource(r), "", &errs)
	if len(errs) > 0 {
		de := &DecodeError{Kind: info.Kind, Errors: errs}
		if md, ok := obj["metadata"].(map[string]any); ok {
			de.Name, _ = md["name"].(string)
		}
		return nil, de
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", info.Kind, err)
	}
	if err := json.Unmarshal(j, r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", info.Kind, err)
	}
	return r, nil
}

// checkTypeMeta returns the kind named by tm, or why it is unacceptable.
func checkTypeMeta(tm TypeMeta) (*KindInfo, error) {
	if tm.Kind == "" {
		return nil, fmt.Errorf("missing kind")
	}
	info, ok := kindByName(tm.Kind)
	if !ok {
		if k, ok := LookupKind(tm.Kind); ok {
			return nil, fmt.Errorf("unknown kind %q (did you mean %q?)", tm.Kind, k.Kind)
		}
		return nil, fmt.Errorf("unknown kind %q", tm.Kind)
	}
	if tm.APIVersion != APIVersion {
		if tm.APIVersion == "" {
			return nil, fmt.Errorf("%s: missing apiVersion (want %q)", tm.Kind, APIVersion)
		}
		return nil, fmt.Errorf("%s: apiVersion %q is not supported (want %q)", tm.Kind, tm.APIVersion, APIVersion)
	}
	return info, nil
}

// DecodeError lists what was wrong with the shape of a user's document.
type DecodeError struct {
	Kind, Name string
	Errors     []FieldError
}

func (e *DecodeError) Error() string { return formatFieldErrors(e.Kind, e.Name, e.Errors) }
