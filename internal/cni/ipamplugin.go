package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/ipam"
	"github.com/gocalico/calico/internal/resources"
)

// startIPAM starts a calico-ipam command (see start); calico-ipam
// touches no network namespace.
func (p *Plugin) startIPAM(args *skel.CmdArgs, withIdentity bool) (*run, func(), error) {
	return p.start(args, "calico-ipam", withIdentity, false)
}

// IPAMAdd allocates the attachment's addresses (or returns those it
// already holds: a repeated ADD is not a second allocation).
func (p *Plugin) IPAMAdd(args *skel.CmdArgs) error {
	r, done, err := p.startIPAM(args, true)
	if err != nil {
		return err
	}
	defer done()
	res, err := ipamAdd(r.ctx, r.be, r.log, r.cfg, r.id)
	if err != nil {
		return err
	}
	return p.printResult(res, r.cfg.CNIVersion)
}

// ipamAdd is calico-ipam's ADD: the calico plugin runs it in its own
// process when its IPAM is calico-ipam (no second process, no second
// connection), and calico-ipam's binary runs it when delegated to.
func ipamAdd(ctx context.Context, be datastore.Backend, log *slog.Logger, cfg *Config, id Identity) (*types100.Result, error) {
	if !cfg.AssignIPv4 && !cfg.AssignIPv6 {
		return nil, configErr("ipam.assign_ipv4 and ipam.assign_ipv6 are both false: nothing to assign")
	}
	lock, err := lockHost(ctx, cfg.LockFile)
	if err != nil {
		return nil, asCNIError("ipam_lock_file", err)
	}
	defer lock.Unlock()

	c := ipam.New(be, log)
	handle := id.HandleID()
	existing, err := c.IPsByHandle(ctx, handle)
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return nil, asCNIError("read IPAM handle "+handle, err)
	}
	attrs := map[string]string{"node": cfg.Node}
	if id.Orchestrator == v3.OrchestratorKubernetes {
		attrs["namespace"], attrs["pod"] = id.Namespace, id.Pod
	}
	var v4, v6 []netip.Addr
	switch {
	case len(existing) > 0:
		log.Info("handle already holds addresses: returning them", "handle", handle, "ips", existing)
		v4, v6 = byFamily(existing)
	case len(id.Requested) > 0:
		// The runtime asked for these addresses: exactly these.
		for _, ip := range id.Requested {
			if err := c.AssignIP(ctx, ip, handle, cfg.Node, attrs); err != nil {
				if _, rerr := c.ReleaseByHandle(ctx, handle); rerr != nil {
					log.Error("releasing the addresses assigned before the failure failed too", "handle", handle, "error", rerr)
				}
				if errors.Is(err, ipam.ErrInUse) || errors.Is(err, ipam.ErrNoPools) {
					return nil, types.NewError(types.ErrInternal, fmt.Sprintf("calico-ipam: requested address %s: %v", ip, err), "")
				}
				return nil, asCNIError("assign requested address "+ip.String(), err)
			}
		}
		v4, v6 = byFamily(id.Requested)
		log.Info("assigned the requested addresses", "handle", handle, "ipv4", v4, "ipv6", v6)
	default:
		aa := ipam.AssignArgs{HandleID: handle, Host: cfg.Node, Attrs: attrs}
		if cfg.AssignIPv4 {
			aa.Num4 = 1
			if aa.IPv4Pools, err = resolvePools(ctx, be, "ipam.ipv4_pools", cfg.IPAM.IPv4Pools, true); err != nil {
				return nil, err
			}
		}
		if cfg.AssignIPv6 {
			aa.Num6 = 1
			if aa.IPv6Pools, err = resolvePools(ctx, be, "ipam.ipv6_pools", cfg.IPAM.IPv6Pools, false); err != nil {
				return nil, err
			}
		}
		v4, v6, err = c.AutoAssign(ctx, aa)
		if err != nil {
			if errors.Is(err, ipam.ErrNoPools) || errors.Is(err, ipam.ErrExhausted) {
				return nil, types.NewError(types.ErrInternal, fmt.Sprintf("calico-ipam: node %s: %v", cfg.Node, err), "")
			}
			return nil, asCNIError("assign addresses", err)
		}
		log.Info("assigned", "handle", handle, "ipv4", v4, "ipv6", v6)
	}
	res := &types100.Result{CNIVersion: types100.ImplementedSpecVersion}
	for _, a := range append(v4, v6...) {
		res.IPs = append(res.IPs, &types100.IPConfig{Address: hostNet(a)})
	}
	return res, nil
}

// byFamily splits addresses into IPv4 and IPv6.
func byFamily(ips []netip.Addr) (v4, v6 []netip.Addr) {
	for _, a := range ips {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	return v4, v6
}

// hostNet is a as a /32 or /128.
func hostNet(a netip.Addr) net.IPNet {
	bits := a.BitLen()
	return net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, bits)}
}

// resolvePools turns pool CIDRs or names into CIDRs of the family.
func resolvePools(ctx context.Context, be datastore.Backend, field string, pools []string, v4 bool) ([]netip.Prefix, error) {
	var out []netip.Prefix
	res := resources.New(be)
	for i, s := range pools {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
			continue
		}
		r, err := res.Get(ctx, v3.KindIPPool, "", s)
		if errors.Is(err, datastore.ErrNotFound) {
			return nil, configErr("%s[%d] %q: no IP pool with that name or CIDR", field, i, s)
		}
		if err != nil {
			return nil, asCNIError(fmt.Sprintf("%s[%d] %q: read IP pool", field, i, s), err)
		}
		pool, ok := r.(*v3.IPPool)
		if !ok {
			return nil, configErr("%s[%d] %q: not an IP pool", field, i, s)
		}
		p, err := netip.ParsePrefix(pool.Spec.CIDR)
		if err != nil || p.Addr().Is4() != v4 {
			return nil, configErr("%s[%d] %q: pool CIDR %q is not of this family", field, i, s, pool.Spec.CIDR)
		}
		out = append(out, p)
	}
	return out, nil
}

// IPAMDel releases the attachment's addresses. Releasing what is not
// allocated is success.
func (p *Plugin) IPAMDel(args *skel.CmdArgs) error {
	r, done, err := p.startIPAM(args, true)
	if err != nil {
		return err
	}
	defer done()
	return ipamDel(r.ctx, r.be, r.log, r.cfg, r.id)
}

// ipamDel is calico-ipam's DEL (see ipamAdd).
func ipamDel(ctx context.Context, be datastore.Backend, log *slog.Logger, cfg *Config, id Identity) error {
	lock, err := lockHost(ctx, cfg.LockFile)
	if err != nil {
		return asCNIError("ipam_lock_file", err)
	}
	defer lock.Unlock()
	ips, err := ipam.New(be, log).ReleaseByHandle(ctx, id.HandleID())
	if err != nil {
		return asCNIError("release handle "+id.HandleID(), err)
	}
	log.Info("released", "handle", id.HandleID(), "ips", ips)
	return nil
}

// IPAMCheck checks the attachment still holds its addresses (and, given
// a previous result, those very addresses).
func (p *Plugin) IPAMCheck(args *skel.CmdArgs) error {
	r, done, err := p.startIPAM(args, true)
	if err != nil {
		return err
	}
	defer done()
	handle := r.id.HandleID()
	ips, err := ipam.New(r.be, r.log).IPsByHandle(r.ctx, handle)
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return asCNIError("read IPAM handle "+handle, err)
	}
	if len(ips) == 0 {
		return types.NewError(types.ErrInternal, "calico-ipam: CHECK: handle "+handle+" holds no addresses", "")
	}
	prev, err := prevResultIPs(r.cfg)
	if err != nil {
		return err
	}
	for _, a := range prev {
		if !containsAddr(ips, a) {
			return types.NewError(types.ErrInternal, fmt.Sprintf("calico-ipam: CHECK: %s from the previous result is not allocated to handle %s (it holds %v)", a, handle, ips), "")
		}
	}
	return nil
}

func containsAddr(s []netip.Addr, a netip.Addr) bool {
	for _, b := range s {
		if b == a {
			return true
		}
	}
	return false
}

// IPAMGC releases this node's allocations of this network whose
// container is not among the valid attachments.
func (p *Plugin) IPAMGC(args *skel.CmdArgs) error {
	r, done, err := p.startIPAM(args, false)
	if err != nil {
		return err
	}
	defer done()
	lock, err := lockHost(r.ctx, r.cfg.LockFile)
	if err != nil {
		return asCNIError("ipam_lock_file", err)
	}
	defer lock.Unlock()
	attachments, given := r.cfg.validAttachments()
	if !given {
		r.log.Warn("GC without cni.dev/valid-attachments: releasing nothing")
		return nil
	}
	valid := map[string]bool{}
	for a := range attachments {
		valid[a.ContainerID] = true
	}
	c := ipam.New(r.be, r.log)
	handlePrefix := ipam.HandleKey(HandleID(r.cfg.Name, ""))
	kvs, _, err := r.be.List(r.ctx, handlePrefix)
	if err != nil {
		return asCNIError("list IPAM handles", err)
	}
	var errs []error
	for _, kv := range kvs {
		handle := strings.TrimPrefix(kv.Key, ipam.HandleKey(""))
		cid := strings.TrimPrefix(kv.Key, handlePrefix)
		if valid[cid] {
			continue
		}
		ips, err := c.IPsByHandle(r.ctx, handle)
		if err != nil || len(ips) == 0 {
			continue // gone meanwhile, or nothing to tell whose it is
		}
		info, err := c.Lookup(r.ctx, ips[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("look up %s: %w", ips[0], err))
			continue
		}
		if info.Attrs["node"] != r.cfg.Node {
			continue // another host's container
		}
		freed, err := c.ReleaseByHandle(r.ctx, handle)
		if err != nil {
			errs = append(errs, fmt.Errorf("release %s: %w", handle, err))
			continue
		}
		r.log.Info("GC released a stale allocation", "handle", handle, "ips", freed)
	}
	if err := errors.Join(errs...); err != nil {
		return asCNIError("GC", err)
	}
	return nil
}

// IPAMStatus checks the datastore answers.
func (p *Plugin) IPAMStatus(args *skel.CmdArgs) error {
	r, done, err := p.startIPAM(args, false)
	if err != nil {
		return err
	}
	defer done()
	if err := p.ping(r); err != nil {
		return types.NewError(ErrPluginNotAvailable, "calico-ipam: datastore unreachable: "+err.Error(), "")
	}
	return nil
}
