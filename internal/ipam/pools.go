package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/selector"
)

// Pool is an IP pool as IPAM uses it.
type Pool struct {
	Name      string
	CIDR      netip.Prefix
	BlockBits int // the pool's blockSize
	Disabled  bool
	// nodeSelector: nil selects every host.
	nodeSelector selector.Selector
	workload     bool // allowedUses has Workload
}

// blockOf is the block of the pool that holds a.
func (p *Pool) blockOf(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, p.BlockBits).Masked()
}

// pools reads every IP pool. A pool that cannot be used (a bad CIDR or
// block size, an unparsable node selector) is left out, with a problem.
func (c *Client) pools(ctx context.Context) ([]*Pool, error) {
	rs, _, err := c.res.List(ctx, v3.KindIPPool, resourcesAll)
	if err != nil {
		return nil, err
	}
	var out []*Pool
	for _, r := range rs {
		ip := r.(*v3.IPPool)
		p, err := poolOf(ip)
		if err != nil {
			c.skip("IPPool "+ip.Metadata.Name, err)
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Pool) int { return a.CIDR.Addr().Compare(b.CIDR.Addr()) })
	return out, nil
}

func poolOf(ip *v3.IPPool) (*Pool, error) {
	cidr, err := netip.ParsePrefix(ip.Spec.CIDR)
	if err != nil {
		return nil, fmt.Errorf("cidr: %w", err)
	}
	cidr = cidr.Masked()
	bits := ip.Spec.BlockSize
	if bits == 0 {
		bits = v3.DefaultIPv4BlockSize
		if cidr.Addr().Is6() {
			bits = v3.DefaultIPv6BlockSize
		}
	}
	if bits < cidr.Bits() || bits > cidr.Addr().BitLen() || cidr.Addr().BitLen()-bits > maxBlockBits {
		return nil, fmt.Errorf("blockSize %d does not fit pool %s", bits, cidr)
	}
	p := &Pool{Name: ip.Metadata.Name, CIDR: cidr, BlockBits: bits, Disabled: ip.Spec.Disabled,
		workload: len(ip.Spec.AllowedUses) == 0 || slices.Contains(ip.Spec.AllowedUses, v3.AllowedUseWorkload)}
	if s := ip.Spec.NodeSelector; s != "" {
		sel, err := selector.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("nodeSelector: %w", err)
		}
		p.nodeSelector = sel
	}
	return p, nil
}

// filterPools are the enabled workload pools of the family (4 or 6)
// among all whose node selector selects host (by its labels); when only
// is not empty, just those of its CIDRs (each must name such a pool).
func filterPools(all []*Pool, labels map[string]string, host string, fam int, only []netip.Prefix) ([]*Pool, error) {
	var out []*Pool
	for _, p := range all {
		if p.CIDR.Addr().Is4() != (fam == 4) {
			continue
		}
		if len(only) > 0 && !slices.Contains(only, p.CIDR) {
			continue
		}
		if p.Disabled || !p.workload {
			continue
		}
		if p.nodeSelector != nil && !p.nodeSelector.Evaluate(labels) {
			continue
		}
		out = append(out, p)
	}
	for _, want := range only {
		if want.Addr().Is4() != (fam == 4) {
			continue
		}
		if !slices.ContainsFunc(out, func(p *Pool) bool { return p.CIDR == want }) {
			return nil, fmt.Errorf("%w: %s is not an enabled IP pool for workloads on %s", ErrNoPools, want, host)
		}
	}
	return out, nil
}

// nodeLabels are the labels of host's Node resource (none when there
// is no such Node).
func (c *Client) nodeLabels(ctx context.Context, host string) (map[string]string, error) {
	r, err := c.res.Get(ctx, v3.KindNode, "", host)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.GetObjectMeta().Labels, nil
}

// reservations returns a test for addresses that IPReservations hold
// back (nil when there are none).
func (c *Client) reservations(ctx context.Context) (func(netip.Addr) bool, error) {
	rs, _, err := c.res.List(ctx, v3.KindIPReservation, resourcesAll)
	if err != nil {
		return nil, err
	}
	var held []netip.Prefix
	for _, r := range rs {
		res := r.(*v3.IPReservation)
		for _, s := range res.Spec.ReservedCIDRs {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					c.skip("IPReservation "+res.Metadata.Name, fmt.Errorf("reservedCIDRs: %q: %w", s, err))
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			held = append(held, p.Masked())
		}
	}
	if len(held) == 0 {
		return nil, nil
	}
	return func(a netip.Addr) bool {
		for _, p := range held {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}, nil
}

// poolFor is the pool among pools that holds a, or nil.
func poolFor(pools []*Pool, a netip.Addr) *Pool {
	for _, p := range pools {
		if p.CIDR.Contains(a) {
			return p
		}
	}
	return nil
}
