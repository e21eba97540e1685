package notimpl

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/ipam"
)

// TestRawFieldsAreNotRead: internal/ipam's configuration has no field for
// any listed raw field (it keeps them only as raw JSON).
func TestRawFieldsAreNotRead(t *testing.T) {
	typ := reflect.TypeOf(ipam.Config{})
	for _, rf := range rawFields {
		if _, ok := typ.FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, rf.Field) }); ok {
			t.Errorf("%s %s: ipam.Config has this field; it is acted on, so it must not be listed", rf.Key, rf.Field)
		}
		if rf.Why == "" || rawKinds[rf.Key] == "" {
			t.Errorf("%s %s: no reason, or no name for the key", rf.Key, rf.Field)
		}
	}
}

func TestFindRaw(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             []string
	}{
		{"upstream's configure", IPAMConfigKey,
			`{"strict_affinity":true,"auto_allocate_blocks":true,"maxBlocksPerHost":4,"kubeVirtVMAddressPersistence":"Disabled","ipCooldownSeconds":60}`,
			[]string{
				`IPAM configuration "/calico/ipam/v2/config": ipCooldownSeconds 60 is not implemented by this version; stored but not acted on ` +
					`(a released address is free again at once: no cooldown)`,
				`IPAM configuration "/calico/ipam/v2/config": kubeVirtVMAddressPersistence "Disabled" is not implemented by this version; ` +
					`stored but not acted on (no KubeVirt: nothing keeps a virtual machine's addresses across restarts)`,
			}},
		{"defaults", IPAMConfigKey, `{"strict_affinity":false,"auto_allocate_blocks":true,"kubeVirtVMAddressPersistence":"Enabled","ipCooldownSeconds":0}`, nil},
		{"unset", IPAMConfigKey, `{"strict_affinity":false,"auto_allocate_blocks":true}`, nil},
		{"another key", "/calico/ipam/v2/handle/x", `{"ipCooldownSeconds":60}`, nil},
		{"not an object", IPAMConfigKey, `[1]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range FindRaw(tt.key, []byte(tt.value)) {
				got = append(got, f.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}
