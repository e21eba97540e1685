package config

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
)

func spec(t *testing.T, js string) *v3.FelixConfigurationSpec {
	t.Helper()
	var s v3.FelixConfigurationSpec
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatalf("spec %s: %v", js, err)
	}
	return &s
}

func TestEffective(t *testing.T) {
	def := Default()
	tests := []struct {
		name         string
		global, node string // JSON specs; "" = absent
		want         func(c *Config)
		problems     int
	}{
		{name: "defaults", want: func(*Config) {}},
		{
			name:   "global only",
			global: `{"interfacePrefix":"tap,cali","reportingInterval":"10s","reportingTTL":"30s","endpointReportingEnabled":true,"routeRefreshInterval":"5s","logSeverityScreen":"debug","healthEnabled":true,"healthHost":"0.0.0.0","healthPort":9199,"prometheusMetricsEnabled":true,"prometheusMetricsPort":9191,"openstackRegion":"r1","ipv6Support":false}`,
			want: func(c *Config) {
				c.InterfacePrefixes = []string{"tap", "cali"}
				c.ReportingInterval = 10 * time.Second
				c.ReportingTTL = 30 * time.Second
				c.EndpointReportingEnabled = true
				c.RouteRefreshInterval = 5 * time.Second
				c.LogSeverityScreen = "Debug"
				c.HealthEnabled = true
				c.HealthHost = "0.0.0.0"
				c.HealthPort = 9199
				c.PrometheusMetricsEnabled = true
				c.PrometheusMetricsPort = 9191
				c.OpenStackRegion = "r1"
				c.IPv6Support = false
			},
		},
		{
			name:   "node wins field by field",
			global: `{"interfacePrefix":"tap","routeRefreshInterval":"5s","ipv6Support":false,"healthPort":1000}`,
			node:   `{"routeRefreshInterval":"7s","ipv6Support":true}`,
			want: func(c *Config) {
				c.InterfacePrefixes = []string{"tap"}
				c.RouteRefreshInterval = 7 * time.Second
				c.HealthPort = 1000
			},
		},
		{
			name:   "node false overrides global true",
			global: `{"endpointReportingEnabled":true}`,
			node:   `{"endpointReportingEnabled":false}`,
			want:   func(*Config) {},
		},
		{
			name: "zero refresh interval disables resync",
			node: `{"routeRefreshInterval":"0s"}`,
			want: func(c *Config) { c.RouteRefreshInterval = 0 },
		},
		{
			name:   "device route protocol 3 maps to the agent's own",
			global: `{"deviceRouteProtocol":3}`,
			want:   func(*Config) {},
		},
		{
			name:   "other device route protocol used as given",
			global: `{"deviceRouteProtocol":81}`,
			want:   func(c *Config) { c.DeviceRouteProtocol, c.RouteProtocol = 81, 81 },
		},
		{
			name:     "kernel route protocol refused",
			global:   `{"deviceRouteProtocol":2}`,
			want:     func(*Config) {},
			problems: 1,
		},
		{
			name:     "bad values keep the lower layer",
			global:   `{"interfacePrefix":"tap","healthPort":9200}`,
			node:     `{"interfacePrefix":" , ","healthPort":70000,"logSeverityScreen":"loud","ipForwarding":"Maybe","reportingInterval":"-1s"}`,
			want:     func(c *Config) { c.InterfacePrefixes = []string{"tap"}; c.HealthPort = 9200 },
			problems: 5,
		},
		{
			name:   "ip forwarding disabled",
			global: `{"ipForwarding":"Disabled"}`,
			want:   func(c *Config) { c.IPForwarding = false },
		},
		{
			name:   "endpoint to host action, any case",
			global: `{"defaultEndpointToHostAction":"ACCEPT"}`,
			node:   `{"defaultEndpointToHostAction":"return"}`,
			want:   func(c *Config) { c.DefaultEndpointToHostAction = "Return" },
		},
		{
			name:   "workload source spoofing, any case",
			global: `{"workloadSourceSpoofing":"any"}`,
			want:   func(c *Config) { c.WorkloadSourceSpoofing = true },
		},
		{
			name:     "bad workload source spoofing keeps it off",
			global:   `{"workloadSourceSpoofing":"Some"}`,
			want:     func(c *Config) {},
			problems: 1,
		},
		{
			name:     "bad endpoint to host action keeps the default",
			global:   `{"defaultEndpointToHostAction":"Reject"}`,
			want:     func(c *Config) {},
			problems: 1,
		},
		{
			name:   "failsafe ports replace the defaults",
			global: `{"failsafeInboundHostPorts":[{"port":22},{"protocol":"UDP","port":68,"net":"10.0.0.1/8"}],"failsafeOutboundHostPorts":[]}`,
			want: func(c *Config) {
				c.FailsafeInbound = []ProtoPort{{Proto: 6, Port: 22}, {Proto: 17, Port: 68, Net: netip.MustParsePrefix("10.0.0.0/8")}}
				c.FailsafeOutbound = []ProtoPort{}
			},
		},
		{
			name:     "a bad failsafe entry keeps the lower layer",
			global:   `{"failsafeInboundHostPorts":[{"protocol":"ICMP","port":1}]}`,
			want:     func(c *Config) {},
			problems: 1,
		},
		{
			name:   "Go runtime settings",
			global: `{"goGCThreshold":100,"goMemoryLimitMB":512}`,
			node:   `{"goGCThreshold":-1}`,
			want:   func(c *Config) { c.GoGCThreshold, c.GoMemoryLimitMB = -1, 512 },
		},
		{
			name:     "a bad Go runtime setting keeps the default",
			global:   `{"goMemoryLimitMB":-5}`,
			want:     func(c *Config) {},
			problems: 1,
		},
		{
			name:   "prefix list with blanks",
			global: `{"interfacePrefix":" tap , cali ,"}`,
			want:   func(c *Config) { c.InterfacePrefixes = []string{"tap", "cali"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g, n *v3.FelixConfigurationSpec
			if tt.global != "" {
				g = spec(t, tt.global)
			}
			if tt.node != "" {
				n = spec(t, tt.node)
			}
			got, problems := Effective(g, n)
			want := def
			want.InterfacePrefixes = append([]string(nil), def.InterfacePrefixes...)
			tt.want(&want)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("Effective (-want +got):\n%s", diff)
			}
			if len(problems) != tt.problems {
				t.Errorf("problems = %q, want %d", problems, tt.problems)
			}
			for _, p := range problems {
				if !strings.HasPrefix(p, "FelixConfiguration ") || !strings.Contains(p, "spec.") {
					t.Errorf("problem %q does not name the resource and field", p)
				}
			}
			if !got.Equal(&want) {
				t.Errorf("Equal(want) = false")
			}
		})
	}
}

func TestDefaultsAreUpstreams(t *testing.T) {
	c := Default()
	if c.Region() != "no-region" {
		t.Errorf("Region = %q", c.Region())
	}
	c.OpenStackRegion = "r1"
	if c.Region() != "region-r1" {
		t.Errorf("Region = %q", c.Region())
	}
	if c.HealthPort != 9099 || c.PrometheusMetricsPort != 9091 || c.RouteRefreshInterval != 90*time.Second ||
		c.ReportingInterval != 30*time.Second || c.ReportingTTL != 90*time.Second || !c.IPv6Support {
		t.Errorf("unexpected defaults %+v", c)
	}
	if c.RouteProtocol != RouteProtocol || c.DeviceRouteProtocol != 3 {
		t.Errorf("route protocol %d (device %d)", c.RouteProtocol, c.DeviceRouteProtocol)
	}
}

func TestMatchesInterface(t *testing.T) {
	c := Default()
	c.InterfacePrefixes = []string{"tap", "cali"}
	for name, want := range map[string]bool{
		"tap1234": true, "cali0": true, "cali": true, "eth0": false, "ca": false, "xtap": false, "": false,
	} {
		if got := c.MatchesInterface(name); got != want {
			t.Errorf("MatchesInterface(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestLogLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{
		"Trace": slog.LevelDebug - 4, "Debug": slog.LevelDebug, "Info": slog.LevelInfo,
		"Warning": slog.LevelWarn, "Error": slog.LevelError, "Fatal": slog.LevelError + 4,
	} {
		c := Config{LogSeverityScreen: name}
		if got := c.LogLevel(); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"cali", "tap,cali", " , ", "a/b", "x,,y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := ParsePrefixes(s)
		if ok != (len(p) > 0) {
			t.Fatalf("ok %v with %q", ok, p)
		}
		for _, e := range p {
			if e == "" || len(e) > 15 || strings.ContainsAny(e, ", /") {
				t.Fatalf("bad prefix %q from %q", e, s)
			}
		}
	})
}
