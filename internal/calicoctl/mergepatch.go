package calicoctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// parsePatch reads a patch given on the command line as JSON or YAML and
// returns it as a JSON value. A merge patch must be an object: anything
// else would replace the whole resource.
func parsePatch(text string) (map[string]any, error) {
	if len(bytes.TrimSpace([]byte(text))) == 0 {
		return nil, errors.New("the patch is empty")
	}
	js, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("the patch is neither JSON nor YAML: %w", err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the patch is not valid JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the patch must be an object such as '{\"spec\":{...}}', got %s", jsonTypeName(v))
	}
	return obj, nil
}

// mergePatch applies an RFC 7386 JSON merge patch to target and returns the
// result. Objects are merged member by member, a null member deletes, and
// any other value (arrays included) replaces the target's value whole.
// target is not modified.
func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	out := make(map[string]any, len(t)+len(p))
	if ok {
		for k, v := range t {
			out[k] = v
		}
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
