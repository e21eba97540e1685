package calicoctl

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

func newDeleteCommand(a *app) *cobra.Command {
	var o fileOptions
	var skipNotExists bool
	cmd := &cobra.Command{
		Use:   "delete (-f FILE | KIND NAME...)",
		Short: "Delete resources named in files or on the command line",
		Long: `Delete resources, named either by the documents of one or more files (only
kind, namespace and name are used) or by KIND and one or more NAMEs.

KIND is case-insensitive and may be plural or a short name (ippool,
ippools, pool, networkpolicy, policy, ...).`,
		Example: `  # Delete two IP pools
  calicoctl delete ippool pool-a pool-b

  # Delete a namespaced policy
  calicoctl delete networkpolicy allow-web -n prod

  # Delete what a file describes, ignoring what is already gone
  calicoctl delete -f policy.yaml --skip-not-exists`,
		RunE: func(cmd *cobra.Command, args []string) error {
			nsChanged(cmd, &o)
			var items []item
			var problems []string
			switch {
			case len(o.files) > 0 && len(args) > 0:
				return usagef("give either -f FILE or KIND NAME..., not both")
			case len(o.files) > 0:
				items, problems = load(a.stdin, o, loadIdentity)
			case len(args) >= 2:
				var err error
				if items, err = namedItems(args[0], args[1:], o.namespace); err != nil {
					return err
				}
			default:
				return usagef("name what to delete: -f FILE, or KIND NAME...")
			}
			v := verb{do: "delete", done: "deleted", skipped: "that did not exist"}
			if len(problems) > 0 {
				return a.reportProblems(v, problems)
			}
			ctx := cmd.Context()
			c, closeFn, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			outs := runBatch(ctx, items, a.concurrency, deletePhase, func(ctx context.Context, it item) outcome {
				return deleteOne(ctx, c, it, skipNotExists)
			})
			return a.summarize(v, items, outs)
		},
	}
	bindFileFlags(cmd, &o, "naming the resources to delete")
	cmd.Flags().BoolVar(&skipNotExists, "skip-not-exists", false, "do not fail for resources that do not exist")
	return cmd
}

// deleteOne deletes whatever version is stored: like kubectl, a
// resourceVersion in the file is ignored.
func deleteOne(ctx context.Context, c *resources.Client, it item, skipNotExists bool) outcome {
	r, err := c.Delete(ctx, it.kind, it.namespace, it.name, "")
	if skipNotExists && errors.Is(err, datastore.ErrNotFound) {
		return outcome{skipped: true}
	}
	return outcome{res: r, err: err}
}
