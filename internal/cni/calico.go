package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/status"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// run is what every command of both plugins starts with: the checked
// configuration, the attachment's identity, a logger and the datastore.
type run struct {
	cfg *Config
	id  Identity
	log *slog.Logger
	be  datastore.Backend
	res *resources.Client
	ctx context.Context
}

// start loads the config (and, when withIdentity, the attachment's
// identity), refuses the initial namespace when told to (touchesHost),
// and connects to the datastore. The returned func releases everything.
func (p *Plugin) start(args *skel.CmdArgs, plugin string, withIdentity, touchesHost bool) (*run, func(), error) {
	cfg, err := LoadConfig(args.StdinData)
	if err != nil {
		return nil, nil, err
	}
	r := &run{cfg: cfg}
	if withIdentity {
		ra, err := ParseRuntimeArgs(args.Args)
		if err != nil {
			return nil, nil, err
		}
		if r.id, err = NewIdentity(cfg, args.ContainerID, args.IfName, ra); err != nil {
			return nil, nil, err
		}
	}
	if touchesHost {
		if err := refuseInitNetNS(); err != nil {
			return nil, nil, types.NewError(types.ErrInvalidNetNS, plugin+": "+err.Error(), "")
		}
	}
	log, closeLog := p.logger(cfg, plugin)
	r.log = log.With("containerID", args.ContainerID)
	ctx, cancel := p.context()
	r.ctx = ctx
	be, err := p.connect(ctx, cfg, r.log)
	if err != nil {
		cancel()
		closeLog()
		return nil, nil, err
	}
	r.be, r.res = be, resources.New(be, resources.WithLogger(r.log))
	return r, func() { be.Close(); cancel(); closeLog() }, nil
}

// startCalico starts a calico command (see start).
func (p *Plugin) startCalico(args *skel.CmdArgs, withIdentity, touchesHost bool) (*run, func(), error) {
	return p.start(args, "calico", withIdentity, touchesHost)
}

// InProcessIPAM is the IPAM type the calico plugin runs in its own
// process for ADD and DEL instead of executing its binary: the same
// code, without a second process start and datastore connection (about
// 10 ms of an ADD). Other types, and calico-ipam's other commands, are
// delegated as the CNI conventions say.
const InProcessIPAM = "calico-ipam"

// ipam runs the IPAM plugin's command for the attachment: in process
// for calico-ipam's ADD and DEL (unless p.Exec stands in for executing
// plugins), delegated otherwise.
func (p *Plugin) ipam(ctx context.Context, command string, r *run, args *skel.CmdArgs) (types.Result, error) {
	if r.cfg.IPAM.Type == InProcessIPAM && p.Exec == nil {
		switch command {
		case "ADD":
			return ipamAdd(ctx, r.be, r.log.With("plugin", "calico-ipam"), r.cfg, r.id)
		case "DEL":
			return nil, ipamDel(ctx, r.be, r.log.With("plugin", "calico-ipam"), r.cfg, r.id)
		}
	}
	return p.delegate(ctx, command, r.cfg.IPAM.Type, args)
}

func needIPAM(cfg *Config) error {
	if cfg.IPAM.Type == "" {
		return configErr("ipam.type: required (e.g. \"calico-ipam\" or \"host-local\")")
	}
	return nil
}

// CalicoAdd attaches a container: addresses from the IPAM plugin, a veth
// (host end cali..., container end CNI_IFNAME) with the default routes
// via the host, and the WorkloadEndpoint. On failure it undoes what it
// did.
func (p *Plugin) CalicoAdd(args *skel.CmdArgs) (err error) {
	r, done, err := p.startCalico(args, true, true)
	if err != nil {
		return err
	}
	defer done()
	cfg, id := r.cfg, r.id
	if err := needIPAM(cfg); err != nil {
		return err
	}
	wepName, _ := id.WEPName()
	log := r.log.With("wep", wepName)
	if _, err := os.Stat(args.Netns); err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("calico: CNI_NETNS %q: %v", args.Netns, err), "")
	}

	// A repeated ADD of an intact attachment returns it as it is.
	if v, w, err := existingAttachment(r.ctx, r.res, id, args.Netns); err != nil {
		return asCNIError("read WorkloadEndpoint "+wepName, err)
	} else if v != nil {
		log.Info("already attached", "interface", v.HostName, "ips", v.IPs)
		return p.printResult(attachResult(*v, w.Spec.MAC, types.DNS{}), cfg.CNIVersion)
	}

	// The pair is made while the addresses are allocated: it needs none.
	v := veth{HostName: id.HostVethName(), IfName: args.IfName, NetNS: args.Netns, MTU: cfg.MTU}
	paired := make(chan error, 1)
	go func() { paired <- v.makePair() }()
	ipamOut, err := p.ipam(r.ctx, "ADD", r, args)
	if perr := <-paired; perr != nil {
		if err == nil {
			// Not a failure of the allocation: give the addresses back.
			if _, derr := p.ipam(r.ctx, "DEL", r, args); derr != nil {
				log.Error("ADD failed and releasing its addresses failed too", "error", derr)
			}
		}
		return asCNIError("set up the veth", perr)
	}
	if err != nil {
		if derr := removeLink(v.HostName); derr != nil {
			log.Error("ADD failed and removing its veth failed too", "error", derr)
		}
		return asCNIError("IPAM plugin "+cfg.IPAM.Type, err)
	}
	var undo []func()
	defer func() {
		if err != nil {
			for _, u := range slices.Backward(undo) {
				u()
			}
		}
	}()
	undo = append(undo, func() {
		// Our context may be what failed: the release gets its own.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, derr := p.ipam(ctx, "DEL", r, args); derr != nil {
			log.Error("ADD failed and releasing its addresses failed too", "error", derr)
		}
	})
	ipamRes, err := types100.NewResultFromResult(ipamOut)
	if err != nil {
		return asCNIError("IPAM plugin "+cfg.IPAM.Type+" result", err)
	}
	ips, err := resultIPs(ipamRes)
	if err != nil {
		return asCNIError("IPAM plugin "+cfg.IPAM.Type+" result", err)
	}
	if len(ips) == 0 {
		return types.NewError(types.ErrInternal, "calico: IPAM plugin "+cfg.IPAM.Type+" returned no address", "")
	}

	undo = append(undo, func() {
		if derr := removeLink(v.HostName); derr != nil {
			log.Error("ADD failed and removing its veth failed too", "error", derr)
		}
	})
	v.IPs = ips
	mac, err := v.configure()
	if err != nil {
		return asCNIError("set up the veth", err)
	}

	w := buildWEP(id, v, mac.String())
	for _, l := range cfg.Args.CNI.Labels {
		if w.Metadata.Labels == nil {
			w.Metadata.Labels = map[string]string{}
		}
		w.Metadata.Labels[l.Key] = l.Value
	}
	if id.Orchestrator != v3.OrchestratorKubernetes {
		if err := ensureNetworkProfile(r.ctx, r.res, cfg.Name); err != nil {
			return asCNIError("profile "+cfg.Name, err)
		}
	}
	if err := writeWEP(r.ctx, r.res, w); err != nil {
		return asCNIError("write WorkloadEndpoint "+wepName, err)
	}
	undo = append(undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := deleteOwnWEP(ctx, r.res, id, wepName, nil); err != nil {
			log.Error("ADD failed and deleting its WorkloadEndpoint failed too", "error", err)
		}
	})
	if cfg.Wait > 0 {
		start := time.Now()
		if err := waitProgrammed(r.ctx, r.be, cfg, w); err != nil {
			return types.NewError(types.ErrTryAgainLater, "calico: "+err.Error(), "")
		}
		log.Info("the agent reports the endpoint programmed", "waited", time.Since(start))
	}
	log.Info("attached", "interface", v.HostName, "ips", ips)

	return p.printResult(attachResult(v, mac.String(), ipamRes.DNS), cfg.CNIVersion)
}

// attachResult is ADD's result for the attachment v: the host end, the
// container end (index 1) with the addresses, the default routes.
func attachResult(v veth, mac string, dns types.DNS) *types100.Result {
	out := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: v.HostName, Mac: HostVethMAC.String()},
			{Name: v.IfName, Mac: mac, Sandbox: v.NetNS},
		},
		DNS: dns,
	}
	v4, v6 := v.families()
	for _, a := range v.IPs {
		out.IPs = append(out.IPs, &types100.IPConfig{Interface: types100.Int(1), Address: hostNet(a)})
	}
	if v4 {
		out.Routes = append(out.Routes, &types.Route{Dst: *defaultNet(true), GW: GatewayIPv4.AsSlice()})
	}
	if v6 {
		out.Routes = append(out.Routes, &types.Route{Dst: *defaultNet(false), GW: GatewayIPv6.AsSlice()})
	}
	return out
}

// existingAttachment is the attachment a repeated ADD finds intact: this
// container's endpoint, with both veth ends as it says. nil when there
// is none (or it is broken: ADD then builds it again).
func existingAttachment(ctx context.Context, res *resources.Client, id Identity, netNS string) (*veth, *v3.WorkloadEndpoint, error) {
	wepName, _ := id.WEPName()
	w, err := getWEP(ctx, res, id.Namespace, wepName)
	if err != nil || w == nil || w.Spec.ContainerID != id.ContainerID {
		return nil, nil, err
	}
	v := &veth{HostName: id.HostVethName(), IfName: id.IfName, NetNS: netNS}
	for _, s := range w.Spec.IPNetworks {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, nil, nil
		}
		v.IPs = append(v.IPs, pfx.Addr())
	}
	if len(v.IPs) == 0 || w.Spec.InterfaceName != v.HostName || v.check() != nil {
		return nil, nil, nil
	}
	return v, w, nil
}

// buildWEP is the attachment's WorkloadEndpoint.
func buildWEP(id Identity, v veth, mac string) *v3.WorkloadEndpoint {
	w := v3.NewWorkloadEndpoint()
	w.Metadata.Name, _ = id.WEPName()
	w.Metadata.Namespace = id.Namespace
	w.Spec = v3.WorkloadEndpointSpec{
		Orchestrator:  id.Orchestrator,
		Node:          id.Node,
		ContainerID:   id.ContainerID,
		Pod:           id.Pod,
		Endpoint:      id.IfName,
		InterfaceName: v.HostName,
		MAC:           mac,
		Profiles:      id.Profiles(),
	}
	for _, a := range v.IPs {
		w.Spec.IPNetworks = append(w.Spec.IPNetworks, netip.PrefixFrom(a, a.BitLen()).String())
	}
	return w
}

// writeWEP creates w, or replaces the spec of the endpoint already there
// (a new sandbox of the same pod, or a repeated ADD).
func writeWEP(ctx context.Context, res *resources.Client, w *v3.WorkloadEndpoint) error {
	_, err := res.Create(ctx, w)
	for attempt := 0; errors.Is(err, datastore.ErrExists) || errors.Is(err, datastore.ErrConflict); attempt++ {
		if attempt == 10 {
			return err
		}
		cur, gerr := res.Get(ctx, v3.KindWorkloadEndpoint, w.Metadata.Namespace, w.Metadata.Name)
		if errors.Is(gerr, datastore.ErrNotFound) {
			_, err = res.Create(ctx, w)
			continue
		}
		if gerr != nil {
			return gerr
		}
		upd := cur.(*v3.WorkloadEndpoint).DeepCopy()
		upd.Spec = w.Spec
		for k, v := range w.Metadata.Labels {
			if upd.Metadata.Labels == nil {
				upd.Metadata.Labels = map[string]string{}
			}
			upd.Metadata.Labels[k] = v
		}
		_, err = res.Update(ctx, upd)
	}
	return err
}

// getWEP reads the endpoint; nil when there is none.
func getWEP(ctx context.Context, res *resources.Client, namespace, name string) (*v3.WorkloadEndpoint, error) {
	r, err := res.Get(ctx, v3.KindWorkloadEndpoint, namespace, name)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w, ok := r.(*v3.WorkloadEndpoint)
	if !ok {
		return nil, fmt.Errorf("WorkloadEndpoint %s/%s: read a %T", namespace, name, r)
	}
	return w, nil
}

// ensureNetworkProfile creates, if missing, the profile that non-
// Kubernetes endpoints of the network list: it lets the network's
// endpoints reach each other and anything reach out, as upstream's.
func ensureNetworkProfile(ctx context.Context, res *resources.Client, network string) error {
	_, err := res.Get(ctx, v3.KindProfile, "", network)
	if err == nil || !errors.Is(err, datastore.ErrNotFound) {
		return err
	}
	pr := v3.NewProfile()
	pr.Metadata.Name = network
	pr.Spec.LabelsToApply = map[string]string{network: ""}
	pr.Spec.Ingress = []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: "has(" + network + ")"}}}
	pr.Spec.Egress = []v3.Rule{{Action: v3.Allow}}
	if _, err := res.Create(ctx, pr); err != nil && !errors.Is(err, datastore.ErrExists) {
		return err
	}
	return nil
}

// CalicoDel detaches a container: the veth, the addresses (IPAM DEL) and
// the WorkloadEndpoint. Anything already gone, the container's namespace
// included, is success. An endpoint (and host interface) that a newer
// container of the same pod has taken over is left alone.
func (p *Plugin) CalicoDel(args *skel.CmdArgs) error {
	r, done, err := p.startCalico(args, true, true)
	if err != nil {
		return err
	}
	defer done()
	id := r.id
	wepName, _ := id.WEPName()
	log := r.log.With("wep", wepName)

	w, err := getWEP(r.ctx, r.res, id.Namespace, wepName)
	if err != nil {
		return asCNIError("read WorkloadEndpoint "+wepName, err)
	}
	ours := w == nil || w.Spec.ContainerID == "" || w.Spec.ContainerID == id.ContainerID
	// Deleting a veth takes the kernel a while (it waits for the
	// network stack to let go of the device): it goes on while the
	// addresses and the endpoint are released.
	unlinked := make(chan error, 1)
	if ours {
		go func() { unlinked <- removeLink(id.HostVethName()) }()
	} else {
		unlinked <- nil
		log.Info("endpoint belongs to a newer container: leaving it", "itsContainerID", w.Spec.ContainerID)
	}
	if err := p.delAddrsAndEndpoint(r, args, ours, w, wepName); err != nil {
		<-unlinked
		return err
	}
	if err := <-unlinked; err != nil {
		return asCNIError("remove the veth", err)
	}
	log.Info("detached")
	return nil
}

// delAddrsAndEndpoint is DEL's release of the addresses (IPAM DEL) and,
// when it is this container's, of the endpoint w.
func (p *Plugin) delAddrsAndEndpoint(r *run, args *skel.CmdArgs, ours bool, w *v3.WorkloadEndpoint, wepName string) error {
	cfg, id := r.cfg, r.id
	if cfg.IPAM.Type != "" {
		if _, err := p.ipam(r.ctx, "DEL", r, args); err != nil {
			return asCNIError("IPAM plugin "+cfg.IPAM.Type+" DEL", err)
		}
	}
	if ours && w != nil {
		if err := deleteOwnWEP(r.ctx, r.res, id, wepName, w); err != nil {
			return asCNIError("delete WorkloadEndpoint "+wepName, err)
		}
	}
	return nil
}

// deleteOwnWEP deletes the endpoint wepName if it is id's container's:
// w as read (the caller found it is), by its revision, else (w nil, or
// rewritten meanwhile) as read again, only if its containerID is id's.
// An endpoint already gone is success.
func deleteOwnWEP(ctx context.Context, res *resources.Client, id Identity, wepName string, w *v3.WorkloadEndpoint) error {
	var err error
	if w != nil {
		_, err = res.Delete(ctx, v3.KindWorkloadEndpoint, id.Namespace, wepName, w.Metadata.ResourceVersion)
	}
	if w == nil || errors.Is(err, datastore.ErrConflict) {
		if w, err = getWEP(ctx, res, id.Namespace, wepName); err == nil && w != nil && w.Spec.ContainerID == id.ContainerID {
			_, err = res.Delete(ctx, v3.KindWorkloadEndpoint, id.Namespace, wepName, w.Metadata.ResourceVersion)
		}
	}
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return err
	}
	return nil
}

// CalicoCheck verifies an attachment: the IPAM plugin's CHECK, the
// WorkloadEndpoint (this container's, with the previous result's
// addresses), and both ends of the veth.
func (p *Plugin) CalicoCheck(args *skel.CmdArgs) error {
	r, done, err := p.startCalico(args, true, true)
	if err != nil {
		return err
	}
	defer done()
	cfg, id := r.cfg, r.id
	if err := needIPAM(cfg); err != nil {
		return err
	}
	if _, err := p.delegate(r.ctx, "CHECK", cfg.IPAM.Type, args); err != nil {
		return asCNIError("IPAM plugin "+cfg.IPAM.Type+" CHECK", err)
	}
	wepName, _ := id.WEPName()
	w, err := getWEP(r.ctx, r.res, id.Namespace, wepName)
	if err != nil {
		return asCNIError("read WorkloadEndpoint "+wepName, err)
	}
	checkErr := func(format string, a ...any) error {
		return types.NewError(types.ErrInternal, "calico: CHECK: "+fmt.Sprintf(format, a...), "")
	}
	if w == nil {
		return checkErr("WorkloadEndpoint %s/%s does not exist", id.Namespace, wepName)
	}
	if w.Spec.ContainerID != id.ContainerID {
		return checkErr("WorkloadEndpoint %s/%s belongs to container %q", id.Namespace, wepName, w.Spec.ContainerID)
	}
	if w.Spec.InterfaceName != id.HostVethName() {
		return checkErr("WorkloadEndpoint %s/%s: interfaceName %q, want %q", id.Namespace, wepName, w.Spec.InterfaceName, id.HostVethName())
	}
	var ips []netip.Addr
	for _, s := range w.Spec.IPNetworks {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return checkErr("WorkloadEndpoint %s/%s: ipNetworks %q: %v", id.Namespace, wepName, s, err)
		}
		ips = append(ips, pfx.Addr())
	}
	prev, err := prevResultIPs(cfg)
	if err != nil {
		return err
	}
	for _, a := range prev {
		if !slices.Contains(ips, a) {
			return checkErr("address %s of the previous result is not in WorkloadEndpoint %s/%s (%v)", a, id.Namespace, wepName, w.Spec.IPNetworks)
		}
	}
	v := veth{HostName: id.HostVethName(), IfName: args.IfName, NetNS: args.Netns, IPs: ips}
	if err := v.check(); err != nil {
		return checkErr("%v", err)
	}
	return nil
}

// waitProgrammed waits until the agent on the endpoint's node reports
// w programmed: its endpoint status key says "up".
func waitProgrammed(ctx context.Context, be datastore.Backend, cfg *Config, w *v3.WorkloadEndpoint) error {
	workload := w.Spec.Pod
	if w.Spec.Orchestrator != v3.OrchestratorKubernetes {
		workload = w.Spec.ContainerID
	}
	key := status.EndpointKey(cfg.OpenStackRegion, w.Spec.Node, w.Spec.Orchestrator, w.Metadata.Namespace+"/"+workload, w.Spec.Endpoint)
	ctx, cancel := context.WithTimeout(ctx, cfg.Wait)
	defer cancel()
	up := func(v []byte) bool {
		var st struct {
			Status string `json:"status"`
		}
		return json.Unmarshal(v, &st) == nil && st.Status == "up"
	}
	for {
		// List, not Get: it says at which revision the key was absent,
		// so that the watch misses nothing written since.
		kvs, rev, err := be.List(ctx, key)
		if err != nil {
			return waitErr(ctx, cfg, key, err)
		}
		for _, kv := range kvs {
			if kv.Key == key && up(kv.Value) {
				return nil
			}
		}
		ch := be.Watch(ctx, key, rev+1)
		for resp := range ch {
			if resp.Err != nil {
				break // read again and watch again
			}
			for _, ev := range resp.Events {
				if ev.Type == datastore.EventPut && ev.KV.Key == key && up(ev.KV.Value) {
					return nil
				}
			}
		}
		if ctx.Err() != nil {
			return waitErr(ctx, cfg, key, ctx.Err())
		}
	}
}

func waitErr(ctx context.Context, cfg *Config, key string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("the agent on %s did not report the endpoint programmed within %v (status key %s; is calico-node running there, with endpointReportingEnabled?)",
			cfg.Node, cfg.Wait, key)
	}
	return fmt.Errorf("waiting for the endpoint to be programmed (status key %s): %w", key, err)
}
