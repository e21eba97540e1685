package notimpl

import (
	"encoding/json"
	"slices"
)

// IPAMConfigKey is where the IPAM configuration is stored (a bare JSON
// object, not a v3 resource).
const IPAMConfigKey = "/calico/ipam/v2/config"

// RawField is one field of a stored value that is not a v3 resource,
// kept when read and written back but not acted on.
type RawField struct {
	Key, Field string
	// Quiet are the values, as JSON, that need no warning.
	Quiet []string
	Why   string
}

var rawFields = []RawField{
	{Key: IPAMConfigKey, Field: "ipCooldownSeconds", Quiet: []string{"0"},
		Why: "a released address is free again at once: no cooldown"},
	// Upstream's "calicoctl ipam configure" writes Enabled when not told.
	{Key: IPAMConfigKey, Field: "kubeVirtVMAddressPersistence", Quiet: []string{`"Enabled"`},
		Why: "no KubeVirt: nothing keeps a virtual machine's addresses across restarts"},
}

// RawFields returns the list of raw fields stored but not acted on.
func RawFields() []RawField { return slices.Clone(rawFields) }

// rawKinds names the stored values of RawFields in messages.
var rawKinds = map[string]string{IPAMConfigKey: "IPAM configuration"}

// FindRaw returns the listed fields of the value stored at key that are
// set to values needing a warning. A value that is not a JSON object has
// none.
func FindRaw(key string, value []byte) []Finding {
	var obj map[string]json.RawMessage
	if json.Unmarshal(value, &obj) != nil {
		return nil
	}
	var out []Finding
	for _, rf := range rawFields {
		v, ok := obj[rf.Field]
		if rf.Key != key || !ok || string(v) == "null" {
			continue
		}
		compact, err := json.Marshal(v)
		if err != nil || slices.Contains(rf.Quiet, string(compact)) {
			continue
		}
		out = append(out, Finding{Kind: rawKinds[key], Name: key, Path: rf.Field, Value: shorten(string(compact)), Why: rf.Why})
	}
	return out
}
