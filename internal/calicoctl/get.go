package calicoctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
	"github.com/gocalico/calico/internal/selector"
)

type getOptions struct {
	fileOptions
	allNamespaces bool
	selector      string
	output        string
	export        bool
}

func newGetCommand(a *app) *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get (KIND [NAME...] | -f FILE)",
		Short: "Show resources",
		Long: `Show resources of one kind (all of them, or those named), or those named by
the documents of one or more files.

KIND is case-insensitive and may be plural or a short name. Namespaced
kinds are read from the namespace given by -n (default "default"), or from
every namespace with -A.

Output: a table by default, more columns with -o wide, the resources
themselves with -o yaml or -o json (a List when more than one resource may
be shown), or kind/name lines with -o name. For workload and host
endpoints, -o wide adds POLICIES: the policies that select each endpoint,
in evaluation order, as tier/name (tier/namespace/name for a
NetworkPolicy).`,
		Example: `  # List IP pools
  calicoctl get ippools

  # One pool as YAML, ready to edit and replace
  calicoctl get ippool default-ipv4-ippool -o yaml

  # Policies in every namespace whose labels match
  calicoctl get networkpolicies -A -l 'team=web,env!=dev'

  # Which policies select a workload endpoint, in evaluation order
  calicoctl get workloadendpoint node1-k8s-web-eth0 -n prod -o wide

  # The resources a file describes, as JSON
  calicoctl get -f policy.yaml -o json

  # Save the pools to create them in another cluster
  calicoctl get ippools -o yaml --export > pools.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			nsChanged(cmd, &o.fileOptions)
			return a.runGet(cmd.Context(), o, args)
		},
	}
	bindFileFlags(cmd, &o.fileOptions, "naming the resources to show")
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list namespaced resources in every namespace")
	f.StringVarP(&o.selector, "selector", "l", "", "label query to filter on, e.g. 'app=web,tier in (fe,be),!legacy'")
	f.StringVarP(&o.output, "output", "o", "", "output format: yaml, json, wide or name (default: a table)")
	f.BoolVar(&o.export, "export", false, "leave out what the datastore assigned (uid, resourceVersion, creationTimestamp), "+
		"so that the output can be created elsewhere")
	return cmd
}

// getRequest is what get was asked for: a list of a kind, or named items.
type getRequest struct {
	list  *v3.KindInfo // list this kind...
	items []item       // ...or get these
}

func (a *app) runGet(ctx context.Context, o getOptions, args []string) error {
	f, err := parseFormat(o.output)
	if err != nil {
		return err
	}
	req, err := a.getRequest(o, args)
	if err != nil {
		return err
	}
	var sel selector.Selector
	if o.selector != "" {
		if sel, err = selector.ParseLabelQuery(o.selector); err != nil {
			return usagef("-l: %v", err)
		}
	}
	c, closeFn, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer closeFn()

	po := printOptions{format: f, namespaceColumn: o.allNamespaces}
	if req.list != nil {
		ns := o.namespace
		if o.allNamespaces {
			ns = ""
		}
		rs, rev, err := c.List(ctx, req.list.Kind, resources.ListOptions{Namespace: ns, Selector: sel})
		if err != nil {
			fmt.Fprintf(a.stderr, "Failed to list '%s' resources: %v\n", req.list.Kind, err)
			return failed("list failed")
		}
		po.listKind = req.list.Kind
		if !o.export {
			po.listRevision = rev
		}
		if err := a.readPolicies(ctx, c, rs, &po); err != nil {
			return err
		}
		return printResources(a.stdout, exported(rs, o.export), po)
	}

	po.single = len(req.items) == 1
	var found []v3.Resource
	var errs []string
	for _, it := range req.items {
		r, err := c.Get(ctx, it.kind, it.namespace, it.name)
		if err != nil {
			errs = append(errs, fmt.Sprintf("Failed to get '%s' resource: [%v]", it.kind, err))
			continue
		}
		found = append(found, r)
	}
	if len(found) > 0 || len(errs) == 0 {
		if err := a.readPolicies(ctx, c, found, &po); err != nil {
			return err
		}
		if err := printResources(a.stdout, exported(found, o.export), po); err != nil {
			return err
		}
	}
	for _, e := range errs {
		fmt.Fprintln(a.stderr, e)
	}
	if len(errs) > 0 {
		return failed("%d resource(s) not found", len(errs))
	}
	return nil
}

// readPolicies fills what -o wide shows besides the resources: the
// POLICIES column (the policies, read once for all the endpoints among
// rs) and the AS number nodes inherit. Other formats read nothing.
func (a *app) readPolicies(ctx context.Context, c *resources.Client, rs []v3.Resource, po *printOptions) error {
	if po.format != formatWide {
		return nil
	}
	if err := a.readGlobalAS(ctx, c, rs, po); err != nil {
		return err
	}
	cell, err := endpointPolicies(ctx, c, rs)
	if err != nil {
		fmt.Fprintf(a.stderr, "Failed to read the policies for the POLICIES column: %v\n", err)
		return failed("list failed")
	}
	po.policies = cell
	return nil
}

// getRequest works out what to read from the arguments and flags.
func (a *app) getRequest(o getOptions, args []string) (getRequest, error) {
	if len(o.files) > 0 {
		if len(args) > 0 {
			return getRequest{}, usagef("give either -f FILE or KIND [NAME...], not both")
		}
		if o.selector != "" || o.allNamespaces {
			return getRequest{}, usagef("-l and -A do not apply to resources named by -f")
		}
		items, problems := load(a.stdin, o.fileOptions, loadIdentity)
		if len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(a.stderr, p)
			}
			return getRequest{}, failed("invalid input")
		}
		return getRequest{items: items}, nil
	}
	if len(args) == 0 {
		return getRequest{}, usagef("name what to show: KIND [NAME...], or -f FILE")
	}
	if len(args) == 1 {
		info, err := lookupKind(args[0])
		if err != nil {
			return getRequest{}, err
		}
		return getRequest{list: info}, nil
	}
	if o.selector != "" {
		return getRequest{}, usagef("-l cannot be combined with resource names")
	}
	if o.allNamespaces {
		return getRequest{}, usagef("resources cannot be fetched by name across all namespaces: use -n")
	}
	items, err := namedItems(args[0], args[1:], o.namespace)
	if err != nil {
		return getRequest{}, err
	}
	return getRequest{items: items}, nil
}

// exported strips what the datastore assigned when export is set.
func exported(rs []v3.Resource, export bool) []v3.Resource {
	if !export {
		return rs
	}
	out := make([]v3.Resource, len(rs))
	for i, r := range rs {
		c := r.DeepCopyResource()
		m := c.GetObjectMeta()
		m.UID, m.ResourceVersion, m.SelfLink, m.Generation = "", "", "", 0
		m.CreationTimestamp = v3.Time{}
		out[i] = c
	}
	return out
}

// defaultASNumber is the AS of nodes when BGPConfiguration "default" sets
// none (upstream's and calico-node's default).
const defaultASNumber = 64512

// readGlobalAS fills the AS number that Nodes without their own inherit
// (the ASN column of -o wide), when rs holds a Node: BGPConfiguration
// "default"'s asNumber, else 64512.
func (a *app) readGlobalAS(ctx context.Context, c *resources.Client, rs []v3.Resource, po *printOptions) error {
	if !slices.ContainsFunc(rs, func(r v3.Resource) bool { return r.GetTypeMeta().Kind == v3.KindNode }) {
		return nil
	}
	po.globalAS = strconv.Itoa(defaultASNumber)
	r, err := c.Get(ctx, v3.KindBGPConfiguration, "", "default")
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return nil
	case err != nil:
		fmt.Fprintf(a.stderr, "Failed to read BGPConfiguration \"default\" for the ASN column: %v\n", err)
		return failed("list failed")
	}
	if as := r.(*v3.BGPConfiguration).Spec.ASNumber; as != nil {
		po.globalAS = strconv.FormatUint(uint64(*as), 10)
	}
	return nil
}
