package cni

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// delegate runs the IPAM plugin named plugin (found in CNI_PATH) with
// command and this invocation's arguments and network configuration, as
// the CNI delegation convention says. CNI_ARGS gains IgnoreUnknown=1 (as
// runtimes pass it), so that an IPAM plugin that rejects keys it does
// not know (host-local) accepts the K8S_* keys. Only ADD has a result.
func (p *Plugin) delegate(ctx context.Context, command, plugin string, args *skel.CmdArgs) (types.Result, error) {
	ex := p.Exec
	if ex == nil {
		ex = &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}}
	}
	path, err := ex.FindInPath(plugin, filepath.SplitList(args.Path))
	if err != nil {
		return nil, configErr("ipam.type %q: %v", plugin, err)
	}
	a := &invoke.Args{
		Command:       command,
		ContainerID:   args.ContainerID,
		NetNS:         args.Netns,
		PluginArgsStr: withIgnoreUnknown(args.Args),
		IfName:        args.IfName,
		Path:          args.Path,
	}
	if command == "ADD" {
		return invoke.ExecPluginWithResult(ctx, path, args.StdinData, a, ex)
	}
	return nil, invoke.ExecPluginWithoutResult(ctx, path, args.StdinData, a, ex)
}

// withIgnoreUnknown adds IgnoreUnknown=1 to non-empty CNI_ARGS that
// lack it.
func withIgnoreUnknown(args string) string {
	if args == "" || strings.Contains(";"+args, ";IgnoreUnknown=") {
		return args
	}
	return "IgnoreUnknown=1;" + args
}
