package v3

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Port is a port number, an inclusive range "min:max" or a named port. It
// is written back as a JSON number, "min:max" or the name.
type Port struct {
	MinPort  uint16
	MaxPort  uint16
	PortName string
}

// SinglePort returns the port p.
func SinglePort(p uint16) Port { return Port{MinPort: p, MaxPort: p} }

// PortRange returns the range min:max.
func PortRange(min, max uint16) Port { return Port{MinPort: min, MaxPort: max} }

// NamedPort returns the named port.
func NamedPort(name string) Port { return Port{PortName: name} }

// PortFromString parses a decimal port, "min:max" or a port name. Strings
// that are neither numbers nor ranges are taken as names; whether a name is
// valid is up to validation.
func PortFromString(s string) (Port, error) {
	if lo, hi, ok := strings.Cut(s, ":"); ok && isDigits(lo) && isDigits(hi) {
		min, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return Port{}, fmt.Errorf("port range %q: %q is not a port number", s, lo)
		}
		max, err := strconv.ParseUint(hi, 10, 16)
		if err != nil {
			return Port{}, fmt.Errorf("port range %q: %q is not a port number", s, hi)
		}
		return PortRange(uint16(min), uint16(max)), nil
	}
	if isDigits(s) {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return Port{}, fmt.Errorf("port %q: not a port number", s)
		}
		return SinglePort(uint16(n)), nil
	}
	return NamedPort(s), nil
}

// IsRange reports whether p is a numeric range of more than one port.
func (p Port) IsRange() bool { return p.PortName == "" && p.MinPort != p.MaxPort }

// String returns the number, "min:max" or the name.
func (p Port) String() string {
	switch {
	case p.PortName != "":
		return p.PortName
	case p.MinPort == p.MaxPort:
		return strconv.Itoa(int(p.MinPort))
	default:
		return fmt.Sprintf("%d:%d", p.MinPort, p.MaxPort)
	}
}

// MarshalJSON writes a number for a single port, else a string.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.PortName == "" && p.MinPort == p.MaxPort {
		return []byte(strconv.Itoa(int(p.MinPort))), nil
	}
	return json.Marshal(p.String())
}

// UnmarshalJSON reads a number or a string.
func (p *Port) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		q, err := PortFromString(s)
		if err != nil {
			return err
		}
		*p = q
		return nil
	}
	var n uint16
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("port %s: must be 0-65535, \"min:max\" or a name", b)
	}
	*p = SinglePort(n)
	return nil
}

// Protocol names accepted by Calico (case-sensitive).
const (
	ProtocolTCP     = "TCP"
	ProtocolUDP     = "UDP"
	ProtocolICMP    = "ICMP"
	ProtocolICMPv6  = "ICMPv6"
	ProtocolSCTP    = "SCTP"
	ProtocolUDPLite = "UDPLite"
)

var protocolNumbers = map[string]uint8{
	ProtocolTCP: 6, ProtocolUDP: 17, ProtocolICMP: 1,
	ProtocolICMPv6: 58, ProtocolSCTP: 132, ProtocolUDPLite: 136,
}

// Protocol is an IP protocol given by number or by name. A quoted string of
// digits reads as a number; numbers are written as JSON numbers.
type Protocol struct {
	Num  uint8  // the number, when Name is empty
	Name string // the name, e.g. "TCP"
}

// ProtocolFromInt returns protocol number n.
func ProtocolFromInt(n uint8) Protocol { return Protocol{Num: n} }

// ProtocolFromString returns the named protocol, or a number if s is one.
func ProtocolFromString(s string) Protocol {
	if isDigits(s) {
		if n, err := strconv.ParseUint(s, 10, 8); err == nil {
			return Protocol{Num: uint8(n)}
		}
	}
	return Protocol{Name: s}
}

// IsNamed reports whether p was given by name.
func (p Protocol) IsNamed() bool { return p.Name != "" }

// Number returns the protocol number, resolving known names.
func (p Protocol) Number() (uint8, bool) {
	if p.Name == "" {
		return p.Num, true
	}
	n, ok := protocolNumbers[p.Name]
	return n, ok
}

// SupportsPorts reports whether p is TCP, UDP or SCTP (by name or number).
func (p Protocol) SupportsPorts() bool {
	n, ok := p.Number()
	return ok && (n == 6 || n == 17 || n == 132)
}

// String returns the name or the decimal number.
func (p Protocol) String() string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Num))
}

// MarshalJSON writes a number or the name.
func (p Protocol) MarshalJSON() ([]byte, error) {
	if p.Name == "" {
		return []byte(strconv.Itoa(int(p.Num))), nil
	}
	return json.Marshal(p.Name)
}

// UnmarshalJSON reads a number 0-255 or a string.
func (p *Protocol) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = ProtocolFromString(s)
		return nil
	}
	var n uint8
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("protocol %s: must be 1-255 or a protocol name", b)
	}
	*p = Protocol{Num: n}
	return nil
}

// ASNumber is a BGP AS number. It is written as a JSON number and read from
// a number, a decimal string or the dotted form "1.10" (1*65536+10).
type ASNumber uint32

// ASNumberFromString parses a decimal or dotted AS number.
func ASNumberFromString(s string) (ASNumber, error) {
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil || !isDigits(hi) || !isDigits(lo) {
			return 0, fmt.Errorf("AS number %q: dotted halves must be 0-65535", s)
		}
		return ASNumber(h<<16 | l), nil
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("AS number %q: not a number", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("AS number %q: must fit in 32 bits", s)
	}
	return ASNumber(n), nil
}

// String returns the decimal form.
func (a ASNumber) String() string { return strconv.FormatUint(uint64(a), 10) }

// MarshalJSON writes a JSON number.
func (a ASNumber) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalJSON reads a number, a decimal string or a dotted string.
func (a *ASNumber) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		n, err := ASNumberFromString(s)
		if err != nil {
			return err
		}
		*a = n
		return nil
	}
	var n uint32
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("AS number %s: must be 0-4294967295 or dotted \"a.b\"", b)
	}
	*a = ASNumber(n)
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
