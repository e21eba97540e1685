package cni

import (
	"fmt"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// prevResult parses the runtime's prevResult (CHECK, DEL), nil when absent.
func prevResult(cfg *Config) (*types100.Result, error) {
	if cfg.RawPrevResult == nil {
		return nil, nil
	}
	pc := types.PluginConf{CNIVersion: cfg.CNIVersion, RawPrevResult: cfg.RawPrevResult}
	if err := version.ParsePrevResult(&pc); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "calico: prevResult: "+err.Error(), "")
	}
	r, err := types100.NewResultFromResult(pc.PrevResult)
	if err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "calico: prevResult: "+err.Error(), "")
	}
	return r, nil
}

// prevResultIPs are the addresses of the previous result.
func prevResultIPs(cfg *Config) ([]netip.Addr, error) {
	r, err := prevResult(cfg)
	if r == nil || err != nil {
		return nil, err
	}
	return resultIPs(r)
}

// resultIPs are a result's addresses (prefix lengths dropped).
func resultIPs(r *types100.Result) ([]netip.Addr, error) {
	var out []netip.Addr
	for i, c := range r.IPs {
		a, ok := netip.AddrFromSlice(c.Address.IP)
		if !ok {
			return nil, fmt.Errorf("ips[%d]: address %q not valid", i, c.Address.IP)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}
