package cni

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// CalicoGC removes what this node holds for containers that are not
// among the valid attachments: the IPAM plugin's allocations (IPAM GC),
// then the endpoints and their host interfaces.
func (p *Plugin) CalicoGC(args *skel.CmdArgs) error {
	r, done, err := p.startCalico(args, false, true)
	if err != nil {
		return err
	}
	defer done()
	cfg := r.cfg
	var errs []error
	if cfg.IPAM.Type != "" {
		if _, err := p.delegate(r.ctx, "GC", cfg.IPAM.Type, args); err != nil {
			errs = append(errs, fmt.Errorf("IPAM plugin %s GC: %w", cfg.IPAM.Type, err))
		}
	}
	valid, given := cfg.validAttachments()
	if !given {
		r.log.Warn("GC without cni.dev/valid-attachments: removing nothing")
		return asCNIError("GC", errors.Join(errs...))
	}
	list, _, err := r.res.List(r.ctx, v3.KindWorkloadEndpoint, resources.ListOptions{})
	if err != nil {
		return asCNIError("list WorkloadEndpoints", err)
	}
	for _, res := range list {
		w, ok := res.(*v3.WorkloadEndpoint)
		if !ok || w.Spec.Node != cfg.Node || w.Spec.ContainerID == "" ||
			(w.Spec.Orchestrator != v3.OrchestratorKubernetes && w.Spec.Orchestrator != v3.OrchestratorCNI) {
			continue
		}
		if valid[types.GCAttachment{ContainerID: w.Spec.ContainerID, IfName: w.Spec.Endpoint}] {
			continue
		}
		if name := w.Spec.InterfaceName; strings.HasPrefix(name, "cali") {
			if err := removeLink(name); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		_, err := r.res.Delete(r.ctx, v3.KindWorkloadEndpoint, w.Metadata.Namespace, w.Metadata.Name, w.Metadata.ResourceVersion)
		if err != nil && !errors.Is(err, datastore.ErrNotFound) && !errors.Is(err, datastore.ErrConflict) {
			errs = append(errs, fmt.Errorf("delete WorkloadEndpoint %s/%s: %w", w.Metadata.Namespace, w.Metadata.Name, err))
			continue
		}
		r.log.Info("GC removed a stale endpoint", "wep", w.Metadata.Name, "containerID", w.Spec.ContainerID)
	}
	if err := errors.Join(errs...); err != nil {
		return asCNIError("GC", err)
	}
	return nil
}

// CalicoStatus reports whether the plugin can serve ADD: the datastore
// answers and the IPAM plugin says it is ready.
func (p *Plugin) CalicoStatus(args *skel.CmdArgs) error {
	r, done, err := p.startCalico(args, false, false)
	if err != nil {
		return err
	}
	defer done()
	if err := p.ping(r); err != nil {
		return types.NewError(ErrPluginNotAvailable, "calico: datastore unreachable: "+err.Error(), "")
	}
	if r.cfg.IPAM.Type != "" {
		if _, err := p.delegate(r.ctx, "STATUS", r.cfg.IPAM.Type, args); err != nil {
			var te *types.Error
			if errors.As(err, &te) {
				return te
			}
			return types.NewError(ErrPluginNotAvailable, "calico: IPAM plugin "+r.cfg.IPAM.Type+" STATUS: "+err.Error(), "")
		}
	}
	return nil
}
