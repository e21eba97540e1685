package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/resources"
)

// PoolDefaults describes the IP pool calico-node creates for one address
// family when the datastore has none of that family.
type PoolDefaults struct {
	// CIDR of the pool; "" picks the upstream default (IPv4 only) and
	// "none" creates no pool for this family.
	CIDR         string
	BlockSize    int
	IPIPMode     v3.EncapMode
	VXLANMode    v3.EncapMode
	NATOutgoing  bool
	NodeSelector string
	Disabled     bool
}

// Defaults are the datastore defaults calico-node creates at start.
type Defaults struct {
	ClusterType    string
	NoDefaultPools bool
	IPv4Pool       PoolDefaults
	IPv6Pool       PoolDefaults
}

// DefaultsFromEnv reads the upstream environment variables
// (CALICO_IPV4POOL_*, CALICO_IPV6POOL_*, NO_DEFAULT_POOLS, CLUSTER_TYPE).
// An IPv6 pool is created only when CALICO_IPV6POOL_CIDR is set.
func DefaultsFromEnv(getenv func(string) string) (Defaults, error) {
	d := Defaults{ClusterType: getenv("CLUSTER_TYPE")}
	if d.ClusterType == "" {
		d.ClusterType = "gocalico,bgp"
	}
	var err error
	if d.NoDefaultPools, err = envBool(getenv, "NO_DEFAULT_POOLS", false); err != nil {
		return d, err
	}
	if d.IPv4Pool, err = poolFromEnv(getenv, "IPV4", 26, true); err != nil {
		return d, err
	}
	if d.IPv6Pool, err = poolFromEnv(getenv, "IPV6", 122, false); err != nil {
		return d, err
	}
	if d.IPv6Pool.CIDR == "" {
		d.IPv6Pool.CIDR = "none"
	}
	return d, nil
}

func poolFromEnv(getenv func(string) string, fam string, blockSize int, nat bool) (PoolDefaults, error) {
	p := PoolDefaults{
		CIDR:         strings.TrimSpace(getenv("CALICO_" + fam + "POOL_CIDR")),
		BlockSize:    blockSize,
		IPIPMode:     v3.EncapMode(envOr2(getenv, "CALICO_"+fam+"POOL_IPIP", "Never")),
		VXLANMode:    v3.EncapMode(envOr2(getenv, "CALICO_"+fam+"POOL_VXLAN", "Never")),
		NodeSelector: envOr2(getenv, "CALICO_"+fam+"POOL_NODE_SELECTOR", "all()"),
	}
	if s := getenv("CALICO_" + fam + "POOL_BLOCK_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, fmt.Errorf("CALICO_%sPOOL_BLOCK_SIZE %q: not a number", fam, s)
		}
		p.BlockSize = n
	}
	var err error
	if p.NATOutgoing, err = envBool(getenv, "CALICO_"+fam+"POOL_NAT_OUTGOING", nat); err != nil {
		return p, err
	}
	if p.Disabled, err = envBool(getenv, "CALICO_"+fam+"POOL_DISABLED", false); err != nil {
		return p, err
	}
	// Upstream accepts "Off" as an alias of Never for IPIP.
	if strings.EqualFold(string(p.IPIPMode), "off") {
		p.IPIPMode = v3.EncapMode("Never")
	}
	return p, nil
}

func envOr2(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func envBool(getenv func(string) string, k string, def bool) (bool, error) {
	v := getenv(k)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, fmt.Errorf("%s %q: want true or false", k, v)
	}
	return b, nil
}

// EnsureDefaults creates what upstream calico-node creates at start, each
// only if missing: the cluster-wide objects (resources.EnsureInitialized),
// FelixConfiguration "default" and "node.<node>", BGPConfiguration
// "default", and default IP pools.
//
// With an empty nodeName only the cluster-wide objects and pools are
// created (a datastore-only process).
func EnsureDefaults(ctx context.Context, c *resources.Client, nodeName string, d Defaults, log *slog.Logger) error {
	if err := c.EnsureInitialized(ctx, d.ClusterType); err != nil {
		return err
	}
	if nodeName == "" {
		if d.NoDefaultPools {
			return nil
		}
		return ensurePools(ctx, c, d, log)
	}
	fc := v3.NewFelixConfiguration()
	fc.Metadata.Name = "default"
	fc.Spec.ReportingInterval = v3.NewDuration(0)
	fc.Spec.LogSeverityScreen = "Info"
	if err := c.CreateIfMissing(ctx, fc); err != nil {
		return err
	}
	fcn := v3.NewFelixConfiguration()
	fcn.Metadata.Name = "node." + nodeName
	fcn.Spec.DefaultEndpointToHostAction = "Return"
	if err := c.CreateIfMissing(ctx, fcn); err != nil {
		return err
	}
	bc := v3.NewBGPConfiguration()
	bc.Metadata.Name = "default"
	if err := c.CreateIfMissing(ctx, bc); err != nil {
		return err
	}
	if d.NoDefaultPools {
		return nil
	}
	return ensurePools(ctx, c, d, log)
}

func ensurePools(ctx context.Context, c *resources.Client, d Defaults, log *slog.Logger) error {
	pools, _, err := c.List(ctx, "IPPool", resources.ListOptions{})
	if err != nil {
		return err
	}
	have4, have6 := false, false
	for _, r := range pools {
		if p, err := netip.ParsePrefix(r.(*v3.IPPool).Spec.CIDR); err == nil {
			have4 = have4 || p.Addr().Is4()
			have6 = have6 || p.Addr().Is6()
		}
	}
	var errs []error
	if !have4 && d.IPv4Pool.CIDR != "none" {
		cidr := d.IPv4Pool.CIDR
		if cidr == "" {
			cidr = defaultIPv4CIDR(localPrefixes())
		}
		errs = append(errs, createPool(ctx, c, "default-ipv4-ippool", cidr, d.IPv4Pool, log))
	}
	if !have6 && d.IPv6Pool.CIDR != "none" && d.IPv6Pool.CIDR != "" {
		errs = append(errs, createPool(ctx, c, "default-ipv6-ippool", d.IPv6Pool.CIDR, d.IPv6Pool, log))
	}
	return errors.Join(errs...)
}

func createPool(ctx context.Context, c *resources.Client, name, cidr string, pd PoolDefaults, log *slog.Logger) error {
	p := v3.NewIPPool()
	p.Metadata.Name = name
	p.Spec.CIDR = cidr
	p.Spec.BlockSize = pd.BlockSize
	p.Spec.IPIPMode = pd.IPIPMode
	p.Spec.VXLANMode = pd.VXLANMode
	p.Spec.NATOutgoing = pd.NATOutgoing
	p.Spec.NodeSelector = pd.NodeSelector
	p.Spec.Disabled = pd.Disabled
	if err := c.CreateIfMissing(ctx, p); err != nil {
		return fmt.Errorf("default IP pool %s: %w", name, err)
	}
	log.Info("default IP pool in place", "name", name, "cidr", cidr)
	return nil
}

// defaultIPv4CIDR is 192.168.0.0/16 unless that overlaps an address of
// this host, then the first of 172.16-31.0.0/16 that does not.
func defaultIPv4CIDR(local []netip.Prefix) string {
	candidates := []string{"192.168.0.0/16"}
	for i := 16; i <= 31; i++ {
		candidates = append(candidates, fmt.Sprintf("172.%d.0.0/16", i))
	}
	for _, s := range candidates {
		cand := netip.MustParsePrefix(s)
		free := true
		for _, l := range local {
			if cand.Overlaps(l) {
				free = false
				break
			}
		}
		if free {
			return s
		}
	}
	return candidates[0]
}

func localPrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}
