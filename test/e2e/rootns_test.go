package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// rootSnapshot is what the suite promises not to change in the machine's
// own network namespace.
type rootSnapshot struct {
	Routes4, Routes6 []string
	Rules4, Rules6   []string
	Links            []string
	Nftables         []string
	Sysctls          map[string]string
}

var expiresRE = regexp.MustCompile(`\s+expires\s+\S+`)

// takeRootSnapshot reads the root namespace's routes (all tables), rules,
// link names, nftables ruleset and forwarding-related sysctls. The test
// process's own threads are in the root namespace: the lab enters lab
// namespaces only on threads it then discards.
func takeRootSnapshot() (rootSnapshot, error) {
	var s rootSnapshot
	var err error
	lines := func(norm func(string) string, args ...string) []string {
		if err != nil {
			return nil
		}
		var out []byte
		out, err = exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			err = fmt.Errorf("%s: %w", strings.Join(args, " "), err)
			return nil
		}
		var ls []string
		for _, l := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
			if l = strings.TrimSpace(norm(l)); l != "" {
				ls = append(ls, l)
			}
		}
		sort.Strings(ls)
		return ls
	}
	same := func(l string) string { return l }
	// Router-advertised routes count down their lifetime: not a change.
	noExpiry := func(l string) string { return expiresRE.ReplaceAllString(l, "") }
	linkName := func(l string) string {
		f := strings.Fields(l)
		if len(f) < 2 {
			return ""
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		return name
	}
	s.Routes4 = lines(noExpiry, "ip", "-4", "route", "show", "table", "all")
	s.Routes6 = lines(noExpiry, "ip", "-6", "route", "show", "table", "all")
	s.Rules4 = lines(same, "ip", "-4", "rule", "show")
	s.Rules6 = lines(same, "ip", "-6", "rule", "show")
	s.Links = lines(linkName, "ip", "-o", "link", "show")
	// nft is one of make deps' packages: without it the snapshot fails
	// rather than leaving the ruleset unchecked.
	s.Nftables = lines(same, "nft", "list", "ruleset")
	if err != nil {
		return s, err
	}
	s.Sysctls = map[string]string{}
	for _, k := range []string{
		"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/conf/all/proxy_arp",
		"net/ipv4/conf/all/rp_filter", "net/ipv6/conf/all/proxy_ndp", "net/ipv6/conf/all/accept_dad",
	} {
		b, rerr := os.ReadFile("/proc/sys/" + k)
		if rerr != nil {
			return s, rerr
		}
		s.Sysctls[k] = strings.TrimSpace(string(b))
	}
	return s, nil
}
