package dataplane

import "github.com/gocalico/calico/internal/agent/config"

// sysctl is one desired value under /proc/sys.
type sysctl struct{ path, value string }

// hostSysctls are the namespace-wide settings.
func hostSysctls(cfg *config.Config) []sysctl {
	if !cfg.IPForwarding {
		return nil
	}
	s := []sysctl{{"net/ipv4/ip_forward", "1"}}
	if cfg.IPv6Support {
		s = append(s, sysctl{"net/ipv6/conf/all/forwarding", "1"})
	}
	return s
}

// interfaceSysctls are upstream's settings for a workload interface: the
// host answers ARP and NDP for every address (proxy), at once; strict
// reverse-path filtering, off when the workload may send from IPv4
// prefixes not its own (see calc.Endpoint.SpoofsIPv4); forwarding; no
// router advertisements accepted.
func interfaceSysctls(cfg *config.Config, name string, spoofsIPv4 bool) []sysctl {
	rpf := "1"
	if spoofsIPv4 {
		rpf = "0"
	}
	s := []sysctl{
		{"net/ipv4/conf/" + name + "/forwarding", "1"},
		{"net/ipv4/conf/" + name + "/proxy_arp", "1"},
		{"net/ipv4/conf/" + name + "/rp_filter", rpf},
		{"net/ipv4/neigh/" + name + "/proxy_delay", "0"},
	}
	if cfg.IPv6Support {
		s = append(s,
			sysctl{"net/ipv6/conf/" + name + "/accept_ra", "0"},
			sysctl{"net/ipv6/conf/" + name + "/forwarding", "1"},
			sysctl{"net/ipv6/conf/" + name + "/proxy_ndp", "1"},
		)
	}
	return s
}
