package v3

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gocalico/calico/internal/selector"
)

func quote(s string) string { return strconv.Quote(s) }

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// oneOf checks that a non-empty s is one of the allowed values.
func (v *validator) oneOf(path, s string, allowed ...string) {
	if s != "" && !slices.Contains(allowed, s) {
		v.add(path, s, "must be one of %s", strings.Join(allowed, ", "))
	}
}

// oneOfFold is oneOf ignoring case, for fields upstream matches that way.
func (v *validator) oneOfFold(path, s string, allowed ...string) {
	if s == "" {
		return
	}
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return
		}
	}
	v.add(path, s, "must be one of %s", strings.Join(allowed, ", "))
}

// selector checks a selector; global() is allowed only when allowGlobal,
// and then only as the whole selector.
func (v *validator) selector(path, s string, allowGlobal bool) {
	if s == "" {
		return
	}
	sel, err := selector.Parse(s)
	if err != nil {
		v.add(path, s, "invalid selector: %v", err)
		return
	}
	if selector.UsesGlobal(sel) {
		switch {
		case !allowGlobal:
			v.add(path, s, "global() is not allowed here")
		case sel.String() != "global()":
			v.add(path, s, "global() must stand alone")
		}
	}
}

// parseIP parses a plain IP address (no zone).
func parseIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseNet parses a CIDR or a bare IP (as a /32 or /128).
func parseNet(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return netip.Prefix{}, false
		}
		return p, true
	}
	a, ok := parseIP(s)
	if !ok {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// ip checks an IP address of the given family (0 = either); it returns the
// family found, or 0.
func (v *validator) ip(path, s string, family int) int {
	a, ok := parseIP(s)
	if !ok {
		v.add(path, s, "not a valid IP address")
		return 0
	}
	f := familyOf(a)
	if family != 0 && f != family {
		v.add(path, s, "must be an IPv%d address", family)
	}
	return f
}

// cidr checks a CIDR or bare IP. With strict, host bits must be zero. It
// returns the prefix and whether it parsed.
func (v *validator) cidr(path, s string, strict bool) (netip.Prefix, bool) {
	p, ok := parseNet(s)
	if !ok {
		v.add(path, s, "not a valid CIDR")
		return p, false
	}
	if strict && p != p.Masked() {
		v.add(path, s, "host bits must be zero (did you mean %s?)", p.Masked())
	}
	return p, true
}

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// mac checks a MAC address.
func (v *validator) mac(path, s string) {
	if _, err := net.ParseMAC(s); err != nil {
		v.add(path, s, "not a valid MAC address")
	}
}

var (
	portNameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	portNameLetter = regexp.MustCompile(`[a-z]`)
)

// portNameProblem explains why s is not a Kubernetes port name, or "".
func portNameProblem(s string) string {
	switch {
	case len(s) > 15:
		return "port name must be at most 15 characters"
	case !portNameRE.MatchString(s) || strings.Contains(s, "--"):
		return "port name must be lowercase letters, digits and single '-', starting and ending with a letter or digit"
	case !portNameLetter.MatchString(s):
		return "port name must contain at least one letter"
	}
	return ""
}

// duration checks that a duration is not negative.
func (v *validator) duration(path string, d *Duration) {
	if d != nil && d.Duration < 0 {
		v.add(path, d.Duration.String(), "must not be negative")
	}
}

// intRange checks lo <= *n <= hi for an optional integer.
func (v *validator) intRange(path string, n *int, lo, hi int) {
	if n != nil && (*n < lo || *n > hi) {
		v.add(path, *n, "must be between %d and %d", lo, hi)
	}
}
