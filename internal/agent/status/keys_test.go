package status

import (
	"encoding/json"
	"testing"
)

func TestKeys(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"region none", RegionSegment(""), "no-region"},
		{"region named", RegionSegment("RegionOne"), "region-RegionOne"},
		{"status", StatusKey("", "node-1.example.com"),
			"/calico/felix/v2/no-region/host/node-1.example.com/status"},
		{"last reported", LastReportedStatusKey("RegionOne", "h1"),
			"/calico/felix/v2/region-RegionOne/host/h1/last_reported_status"},
		{"endpoint prefix", EndpointPrefix("", "h1"),
			"/calico/felix/v2/no-region/host/h1/workload/"},
		{"k8s endpoint, namespace slash escaped", EndpointKey("", "node1", "k8s", "default/web-0", "eth0"),
			"/calico/felix/v2/no-region/host/node1/workload/k8s/default%2fweb-0/endpoint/eth0"},
		{"openstack endpoint", EndpointKey("RegionOne", "compute1", "openstack", "openstack/8a0f3c1e", "9b1e6f0a-port"),
			"/calico/felix/v2/region-RegionOne/host/compute1/workload/openstack/openstack%2f8a0f3c1e/endpoint/9b1e6f0a-port"},
		{"every slash escaped, in every ID", EndpointKey("", "h", "o/x", "a/b/c", "e/1"),
			"/calico/felix/v2/no-region/host/h/workload/o%2fx/a%2fb%2fc/endpoint/e%2f1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %s\nwant %s", tt.got, tt.want)
			}
		})
	}
}

func TestCheckHostRegion(t *testing.T) {
	tests := []struct {
		host, region string
		ok           bool
	}{
		{"node1", "", true},
		{"node1.example.com", "RegionOne", true},
		{"", "", false},
		{"a/b", "", false},
		{"node1", "r/1", false},
	}
	for _, tt := range tests {
		err := checkHostRegion(tt.host, tt.region)
		if (err == nil) != tt.ok {
			t.Errorf("checkHostRegion(%q, %q) = %v, want ok=%v", tt.host, tt.region, err, tt.ok)
		}
	}
}

func TestEndpointValue(t *testing.T) {
	for _, st := range []string{StatusUp, StatusDown, StatusError} {
		b := encodeEndpointValue(st)
		if want := `{"status":"` + st + `"}`; string(b) != want {
			t.Errorf("encode %s = %s, want %s", st, b, want)
		}
		got, err := decodeEndpointValue(b)
		if err != nil || got != st {
			t.Errorf("decode %s = %q, %v", b, got, err)
		}
	}
	for _, bad := range []string{``, `{}`, `{"status":"sideways"}`, `"up"`, `{"status":1}`, `null`} {
		if st, err := decodeEndpointValue([]byte(bad)); err == nil {
			t.Errorf("decode %q = %q, want an error", bad, st)
		}
	}
}

// FuzzDecodeEndpointValue: values read from etcd are untrusted; decoding
// never panics and whatever it accepts re-encodes to the canonical form.
func FuzzDecodeEndpointValue(f *testing.F) {
	for _, s := range []string{`{"status":"up"}`, `{"status":"error","x":1}`, `{`, `[]`, `{"status":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeEndpointValue(b)
		if err != nil {
			return
		}
		if !validStatus(st) {
			t.Fatalf("accepted invalid status %q", st)
		}
		var v endpointValue
		if err := json.Unmarshal(encodeEndpointValue(st), &v); err != nil || v.Status != st {
			t.Fatalf("re-encode of %q: %v %q", st, err, v.Status)
		}
	})
}
