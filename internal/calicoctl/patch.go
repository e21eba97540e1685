package calicoctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

func newPatchCommand(a *app) *cobra.Command {
	var namespace, patch string
	cmd := &cobra.Command{
		Use:   "patch KIND NAME -p PATCH",
		Short: "Change fields of a stored resource with a JSON merge patch",
		Long: `Change a stored resource with a JSON merge patch (RFC 7386), given as JSON
or YAML: objects are merged field by field, null removes a field, and any
other value (lists included) replaces the stored one.

The patched resource is validated like any write and stored only if nobody
changed it since it was read (the read-patch-write cycle is retried when
someone did). A metadata.resourceVersion in the patch pins the resource to
that version instead.`,
		Example: `  # Turn on outgoing NAT for a pool
  calicoctl patch ippool pool-a -p '{"spec":{"natOutgoing":true}}'

  # The same in YAML; remove the pool's node selector
  calicoctl patch ippool pool-a -p 'spec: {natOutgoing: true, nodeSelector: null}'

  # Patch a namespaced policy
  calicoctl patch networkpolicy allow-web -n prod -p '{"spec":{"order":100}}'`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if patch == "" {
				return usagef("give the patch with -p")
			}
			p, err := parsePatch(patch)
			if err != nil {
				return usagef("-p: %v", err)
			}
			items, err := namedItems(args[0], args[1:2], namespace)
			if err != nil {
				return err
			}
			it := items[0]
			ctx := cmd.Context()
			c, closeFn, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			v := verb{do: "patch", done: "patched"}
			res, err := patchOne(ctx, c, it, p)
			outs := []outcome{{res: res, err: err}}
			a.warnNotImplemented(outs)
			return a.summarize(v, items, outs)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&patch, "patch", "p", "", "the merge patch, JSON or YAML")
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of a namespaced resource")
	return cmd
}

// patchOne applies patch to the stored resource with compare-and-swap,
// retrying when the resource changes between read and write.
func patchOne(ctx context.Context, c *resources.Client, it item, patch map[string]any) (v3.Resource, error) {
	pinned := ""
	if md, ok := patch["metadata"].(map[string]any); ok {
		if rv, ok := md["resourceVersion"].(string); ok {
			pinned = rv
		}
	}
	var err error
	for range maxAttempts {
		var cur, next v3.Resource
		if cur, err = c.Get(ctx, it.kind, it.namespace, it.name); err != nil {
			return nil, err
		}
		if next, err = patched(cur, patch); err != nil {
			return nil, err
		}
		if pinned == "" {
			next.GetObjectMeta().ResourceVersion = cur.GetObjectMeta().ResourceVersion
		}
		var out v3.Resource
		if out, err = c.Update(ctx, next); err == nil {
			return out, nil
		}
		if pinned != "" || !errors.Is(err, datastore.ErrConflict) {
			return nil, err
		}
	}
	return nil, err
}

// patched returns cur with the merge patch applied, decoded as strictly as
// user input: a patch may not add unknown fields, change a field's type or
// rename the resource.
func patched(cur v3.Resource, patch map[string]any) (v3.Resource, error) {
	obj, err := jsonObject(cur)
	if err != nil {
		return nil, err
	}
	merged, _ := mergePatch(obj, patch).(map[string]any)
	b, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("encoding patched resource: %w", err)
	}
	next, err := v3.DecodeStrict(b)
	if err != nil {
		return nil, fmt.Errorf("the patched resource is invalid: %w", err)
	}
	cm, nm := cur.GetObjectMeta(), next.GetObjectMeta()
	switch {
	case next.GetTypeMeta().Kind != cur.GetTypeMeta().Kind:
		return nil, fmt.Errorf("a patch may not change kind (%s to %s)", cur.GetTypeMeta().Kind, next.GetTypeMeta().Kind)
	case nm.Name != cm.Name:
		return nil, fmt.Errorf("a patch may not change metadata.name (%q to %q)", cm.Name, nm.Name)
	case nm.Namespace != cm.Namespace:
		return nil, fmt.Errorf("a patch may not change metadata.namespace (%q to %q)", cm.Namespace, nm.Namespace)
	}
	return next, nil
}
