package lab

import (
	"context"
	"fmt"

	v3 "github.com/gocalico/calico/api/v3"
)

// NewWorkload describes workload index (1-based) of host: its names,
// addresses and MAC. Nothing is created.
func (l *Lab) NewWorkload(host string, index int) (Workload, error) {
	h, ok := l.Host(host)
	if !ok {
		return Workload{}, fmt.Errorf("lab %s: no host %q", l.st.Name, host)
	}
	if index < 1 || index > MaxWorkloadsPerHost {
		return Workload{}, fmt.Errorf("workload index %d: must be 1-%d", index, MaxWorkloadsPerHost)
	}
	name := WorkloadName(h.Index, index)
	ep, err := v3.WorkloadEndpointName(h.Name, v3.OrchestratorKubernetes, name, uplink)
	if err != nil {
		return Workload{}, err
	}
	w := Workload{
		Name:      name,
		Host:      h.Name,
		Index:     index,
		Namespace: workloadNamespace(l.st.Name, h.Index, index),
		Interface: InterfaceName(WorkloadNamespace, name),
		IPv4:      workloadIPv4(h.Index, index),
		MAC:       workloadMAC(h.Index, index).String(),
		Endpoint:  ep,
	}
	if l.st.IPv6 {
		w.IPv6 = workloadIPv6(h.Index, index)
	}
	return w, nil
}

// Plug creates w's namespace and veth, as a CNI plugin does when a pod
// starts, and records w.
func (l *Lab) Plug(ctx context.Context, w Workload) error {
	h, ok := l.Host(w.Host)
	if !ok {
		return fmt.Errorf("lab %s: no host %q", l.st.Name, w.Host)
	}
	if err := l.record(func(s *state) { s.putWorkload(w) }); err != nil {
		return err
	}
	if err := l.addNamespace(ctx, w.Namespace); err != nil {
		return err
	}
	if err := plugWorkload(h, w); err != nil {
		return err
	}
	l.step("workload %s: namespace %s, eth0 %s, host end %s", w.Name, w.Namespace, joinAddrs(w.IPv4, w.IPv6), w.Interface)
	return nil
}

// Unplug deletes w's veth and namespace (its endpoint stays).
func (l *Lab) Unplug(ctx context.Context, w Workload) error {
	h, ok := l.Host(w.Host)
	if !ok {
		return fmt.Errorf("lab %s: no host %q", l.st.Name, w.Host)
	}
	if err := unplugWorkload(h, w); err != nil {
		return err
	}
	if err := killStray(ctx, w.Namespace); err != nil {
		return err
	}
	return deleteNamespace(w.Namespace)
}

// AddWorkload plugs w and writes its endpoint.
func (l *Lab) AddWorkload(ctx context.Context, w Workload) error {
	if err := l.Plug(ctx, w); err != nil {
		return err
	}
	return l.CreateEndpoint(ctx, w)
}
