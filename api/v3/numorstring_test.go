package v3

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPortJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Port
		out     string // re-encoded; empty means same as in
		wantErr bool
	}{
		{in: `80`, want: SinglePort(80)},
		{in: `"80"`, want: SinglePort(80), out: `80`},
		{in: `"8000:8080"`, want: PortRange(8000, 8080)},
		{in: `"80:80"`, want: SinglePort(80), out: `80`},
		{in: `"http"`, want: NamedPort("http")},
		{in: `"9000:8000"`, want: PortRange(9000, 8000)}, // representable; Validate rejects it
		{in: `"a:b"`, want: NamedPort("a:b")},            // a name; Validate rejects it
		{in: `0`, want: SinglePort(0)},
		{in: `65536`, wantErr: true},
		{in: `-1`, wantErr: true},
		{in: `"70000"`, wantErr: true},
		{in: `"1:70000"`, wantErr: true},
		{in: `1.5`, wantErr: true},
		{in: `true`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var p Port
			err := json.Unmarshal([]byte(tt.in), &p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, p); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.out
			if want == "" {
				want = tt.in
			}
			if string(b) != want {
				t.Errorf("Marshal = %s, want %s", b, want)
			}
		})
	}
}

func TestProtocolJSON(t *testing.T) {
	tests := []struct {
		in        string
		want      Protocol
		out       string
		wantErr   bool
		number    uint8
		hasNumber bool
		ports     bool
	}{
		{in: `"TCP"`, want: Protocol{Name: "TCP"}, number: 6, hasNumber: true, ports: true},
		{in: `"UDPLite"`, want: Protocol{Name: "UDPLite"}, number: 136, hasNumber: true},
		{in: `"ICMPv6"`, want: Protocol{Name: "ICMPv6"}, number: 58, hasNumber: true},
		{in: `6`, want: Protocol{Num: 6}, number: 6, hasNumber: true, ports: true},
		{in: `"17"`, want: Protocol{Num: 17}, out: `17`, number: 17, hasNumber: true, ports: true},
		{in: `"132"`, want: Protocol{Num: 132}, out: `132`, number: 132, hasNumber: true, ports: true},
		{in: `"tcp"`, want: Protocol{Name: "tcp"}}, // case-sensitive: unknown name
		{in: `"300"`, want: Protocol{Name: "300"}}, // not a uint8: kept as a name, Validate rejects it
		{in: `256`, wantErr: true},
		{in: `-1`, wantErr: true},
		{in: `{}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var p Protocol
			err := json.Unmarshal([]byte(tt.in), &p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, p); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			b, _ := json.Marshal(p)
			want := tt.out
			if want == "" {
				want = tt.in
			}
			if string(b) != want {
				t.Errorf("Marshal = %s, want %s", b, want)
			}
			n, ok := p.Number()
			if ok != tt.hasNumber || (ok && n != tt.number) {
				t.Errorf("Number() = %d, %v; want %d, %v", n, ok, tt.number, tt.hasNumber)
			}
			if got := p.SupportsPorts(); got != tt.ports {
				t.Errorf("SupportsPorts() = %v, want %v", got, tt.ports)
			}
		})
	}
}

func TestASNumberJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    ASNumber
		wantErr bool
	}{
		{in: `64512`, want: 64512},
		{in: `"64512"`, want: 64512},
		{in: `"1.10"`, want: 65546},
		{in: `"65535.65535"`, want: 4294967295},
		{in: `4294967295`, want: 4294967295},
		{in: `0`, want: 0},
		{in: `4294967296`, wantErr: true},
		{in: `"65536.1"`, wantErr: true},
		{in: `"1.2.3"`, wantErr: true},
		{in: `"1."`, wantErr: true},
		{in: `"+1.2"`, wantErr: true},
		{in: `"abc"`, wantErr: true},
		{in: `-5`, wantErr: true},
		{in: `1.5`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var a ASNumber
			err := json.Unmarshal([]byte(tt.in), &a)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if a != tt.want {
				t.Errorf("got %d, want %d", a, tt.want)
			}
			b, _ := json.Marshal(a)
			if string(b) != a.String() {
				t.Errorf("Marshal = %s, want the JSON number %s", b, a.String())
			}
		})
	}
}

func TestDSCPJSON(t *testing.T) {
	tests := []struct {
		in    string
		out   string
		value uint8
		valid bool
	}{
		{`46`, `46`, 46, true},
		{`"46"`, `46`, 46, true},
		{`"EF"`, `"EF"`, 46, true},
		{`"AF11"`, `"AF11"`, 10, true},
		{`64`, `64`, 0, false},
		{`"XX"`, `"XX"`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d DSCP
			if err := json.Unmarshal([]byte(tt.in), &d); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(d)
			if string(b) != tt.out {
				t.Errorf("Marshal = %s, want %s", b, tt.out)
			}
			v, ok := d.Value()
			if ok != tt.valid || (ok && v != tt.value) {
				t.Errorf("Value() = %d, %v; want %d, %v", v, ok, tt.value, tt.valid)
			}
		})
	}
}

func TestTimeAndDurationJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		out     string
		target  func() any
		wantErr bool
	}{
		{"time", `"2025-01-02T03:04:05Z"`, `"2025-01-02T03:04:05Z"`, func() any { return new(Time) }, false},
		{"time offset and fraction", `"2025-01-02T05:04:05.75+02:00"`, `"2025-01-02T03:04:05Z"`, func() any { return new(Time) }, false},
		{"time null", `null`, `null`, func() any { return new(Time) }, false},
		{"time bad", `"yesterday"`, ``, func() any { return new(Time) }, true},
		{"duration", `"90s"`, `"1m30s"`, func() any { return new(Duration) }, false},
		{"duration zero", `"0s"`, `"0s"`, func() any { return new(Duration) }, false},
		{"duration number", `90`, ``, func() any { return new(Duration) }, true},
		{"duration bad", `"soon"`, ``, func() any { return new(Duration) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.target()
			err := json.Unmarshal([]byte(tt.in), v)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.out {
				t.Errorf("Marshal = %s, want %s", b, tt.out)
			}
		})
	}
}

func TestZeroCreationTimestampOmitted(t *testing.T) {
	p := NewIPPool()
	p.Metadata.Name = "p"
	b, _ := json.Marshal(p)
	want := `{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p"},"spec":{"cidr":""}}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
