package birdcfg

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
)

// pool is what the filters need of an IPPool.
type pool struct {
	name  string
	cidr  netip.Prefix
	noBGP bool // disableBGPExport
	encap bool // IPIP or VXLAN: the agent programs these routes itself
}

// parsePools reads the IP pools by family, sorted by CIDR then name.
// Disabled pools stay: their existing workloads are still announced, as
// upstream does.
func (r *renderer) parsePools() {
	r.pools = map[int][]pool{}
	for _, p := range r.in.Pools {
		if p == nil {
			continue
		}
		what := fmt.Sprintf("IPPool %q", p.Metadata.Name)
		c, err := netip.ParsePrefix(strings.TrimSpace(p.Spec.CIDR))
		if err != nil || c.Addr().Zone() != "" {
			r.problem("%s: spec.cidr %q is not a CIDR; pool left out of the BGP filters", what, p.Spec.CIDR)
			continue
		}
		c = netip.PrefixFrom(c.Addr().Unmap(), c.Bits()).Masked()
		if c.Addr().Is4() && c.Bits() > 32 || !c.IsValid() {
			r.problem("%s: spec.cidr %q is not a CIDR; pool left out of the BGP filters", what, p.Spec.CIDR)
			continue
		}
		encap := func(m v3.EncapMode) bool { return m == v3.EncapAlways || m == v3.EncapCrossSubnet }
		fam := familyOf(c.Addr())
		r.pools[fam] = append(r.pools[fam], pool{
			name:  p.Metadata.Name,
			cidr:  c,
			noBGP: p.Spec.DisableBGPExport,
			encap: encap(p.Spec.IPIPMode) || encap(p.Spec.VXLANMode),
		})
	}
	for _, ps := range r.pools {
		slices.SortFunc(ps, func(a, b pool) int {
			if c := a.cidr.Addr().Compare(b.cidr.Addr()); c != 0 {
				return c
			}
			if c := a.cidr.Bits() - b.cidr.Bits(); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
	}
}

// prefixSet renders the pools keep selects as a BIRD prefix set matching
// the pools and everything inside them ("10.65.0.0/16+"), or "" if none.
func prefixSet(ps []pool, keep func(pool) bool) string {
	var items []string
	for _, p := range ps {
		if keep(p) {
			s := p.cidr.String() + "+"
			if !slices.Contains(items, s) {
				items = append(items, s)
			}
		}
	}
	if len(items) == 0 {
		return ""
	}
	return "[ " + strings.Join(items, ", ") + " ]"
}
