package calicoctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/notimpl"
	"github.com/gocalico/calico/internal/resources"
)

// maxAttempts bounds read-modify-write retries on conflicts.
const maxAttempts = 5

// bindFileFlags defines -f, -R and -n on cmd.
func bindFileFlags(cmd *cobra.Command, o *fileOptions, what string) {
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil,
		"file "+what+" (repeatable; - for standard input; a directory means every .yaml, .yml and .json file in it)")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "read directories given with -f recursively")
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of namespaced resources that do not name one")
}

// nsChanged records whether -n was given explicitly.
func nsChanged(cmd *cobra.Command, o *fileOptions) {
	o.nsSet = cmd.Flags().Changed("namespace")
}

// writeCommand is create, apply or replace: read manifests, check all of
// them, then write them.
type writeCommand struct {
	v    verb
	mode loadMode
	op   func(ctx context.Context, c *resources.Client, it item) outcome
}

func (a *app) runWrite(cmd *cobra.Command, o fileOptions, wc writeCommand) error {
	if len(o.files) == 0 {
		return usagef("no input: give one or more -f FILE (- for standard input)")
	}
	nsChanged(cmd, &o)
	items, problems := load(a.stdin, o, wc.mode)
	if len(problems) > 0 {
		return a.reportProblems(wc.v, problems)
	}
	ctx := cmd.Context()
	c, closeFn, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	outs := runBatch(ctx, items, a.concurrency, writePhase, func(ctx context.Context, it item) outcome {
		return wc.op(ctx, c, it)
	})
	a.warnNotImplemented(outs)
	return a.summarize(wc.v, items, outs)
}

// warnNotImplemented prints a warning on stderr for each field that a
// written resource sets and this version does not act on
// (internal/notimpl): the write happened, as upstream would do it, but
// nothing will follow from the field.
func (a *app) warnNotImplemented(outs []outcome) {
	for _, o := range outs {
		if o.err != nil || o.res == nil {
			continue
		}
		for _, f := range notimpl.Find(o.res) {
			fmt.Fprintf(a.stderr, "Warning: %s\n", f)
		}
	}
}

func newCreateCommand(a *app) *cobra.Command {
	var o fileOptions
	var skipExists bool
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create resources from files; fail for those that already exist",
		Long: `Create the resources described in one or more files (YAML or JSON; several
documents per file, arrays and List kinds are accepted).

Every document of every file is decoded, defaulted and validated first; if
any is invalid, the problems are listed and nothing is written.`,
		Example: `  # Create the resources in pools.yaml
  calicoctl create -f pools.yaml

  # Create from standard input, ignoring those that already exist
  cat policy.yaml | calicoctl create -f - --skip-exists

  # Create everything in a directory
  calicoctl create -f ./manifests/`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWrite(cmd, o, writeCommand{
				v:    verb{do: "create", done: "created", skipped: "that already existed"},
				mode: loadCreate,
				op: func(ctx context.Context, c *resources.Client, it item) outcome {
					r, err := c.Create(ctx, it.res)
					if skipExists && errors.Is(err, datastore.ErrExists) {
						return outcome{skipped: true}
					}
					return outcome{res: r, err: err}
				},
			})
		},
	}
	bindFileFlags(cmd, &o, "to create")
	cmd.Flags().BoolVar(&skipExists, "skip-exists", false, "do not fail for resources that already exist (they are left unchanged)")
	return cmd
}

func newApplyCommand(a *app) *cobra.Command {
	var o fileOptions
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create resources from files, or replace those that exist",
		Long: `Apply the resources described in one or more files: each is created if it
does not exist and replaced if it does (a given metadata.resourceVersion
makes the replace conditional on it).

Every document of every file is decoded, defaulted and validated first; if
any is invalid, the problems are listed and nothing is written.`,
		Example: `  # Apply a policy
  calicoctl apply -f policy.yaml

  # Apply a saved copy of the IP pools
  calicoctl get ippools -o yaml > pools.yaml
  calicoctl apply -f pools.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWrite(cmd, o, writeCommand{
				v:    verb{do: "apply", done: "applied"},
				mode: loadWrite,
				op: func(ctx context.Context, c *resources.Client, it item) outcome {
					r, err := c.Apply(ctx, it.res)
					return outcome{res: r, err: err}
				},
			})
		},
	}
	bindFileFlags(cmd, &o, "to apply")
	return cmd
}

func newReplaceCommand(a *app) *cobra.Command {
	var o fileOptions
	cmd := &cobra.Command{
		Use:   "replace -f FILE",
		Short: "Replace existing resources with the content of files",
		Long: `Replace resources that already exist with the content of one or more files.
A resource that does not exist is an error.

With metadata.resourceVersion in the file, the replace succeeds only if the
stored resource is still at that version (otherwise: a conflict error).
Without it, the current version is replaced.

Every document of every file is decoded, defaulted and validated first; if
any is invalid, the problems are listed and nothing is written.`,
		Example: `  # Edit a pool safely: the replace fails if someone changed it meanwhile
  calicoctl get ippool p1 -o yaml > p1.yaml
  $EDITOR p1.yaml
  calicoctl replace -f p1.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWrite(cmd, o, writeCommand{
				v:    verb{do: "replace", done: "replaced"},
				mode: loadWrite,
				op:   replaceOne,
			})
		},
	}
	bindFileFlags(cmd, &o, "to replace")
	return cmd
}

// replaceOne updates an existing resource: at the file's resourceVersion
// if it has one, else at the current one (retrying if it changes meanwhile).
func replaceOne(ctx context.Context, c *resources.Client, it item) outcome {
	if it.res.GetObjectMeta().ResourceVersion != "" {
		r, err := c.Update(ctx, it.res)
		return outcome{res: r, err: err}
	}
	var err error
	for range maxAttempts {
		var existing v3.Resource
		existing, err = c.Get(ctx, it.kind, it.namespace, it.name)
		if err != nil {
			return outcome{err: err}
		}
		u := it.res.DeepCopyResource()
		u.GetObjectMeta().Name = it.name
		u.GetObjectMeta().ResourceVersion = existing.GetObjectMeta().ResourceVersion
		var r v3.Resource
		if r, err = c.Update(ctx, u); err == nil {
			return outcome{res: r}
		}
		if !errors.Is(err, datastore.ErrConflict) {
			break
		}
	}
	return outcome{err: err}
}
