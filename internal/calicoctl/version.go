package calicoctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gocalico/calico/internal/buildinfo"
	"github.com/gocalico/calico/internal/datastore"
)

const unknown = "unknown"

func newVersionCommand(a *app) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the calicoctl version and the cluster's Calico version",
		Long: `Show the version of this calicoctl and, read from the ClusterInformation
resource "default" in the datastore, the cluster's Calico version and type
("unknown" when the datastore has none).`,
		Example: `  # Client and cluster versions
  calicoctl version

  # Client version only, without contacting the datastore
  calicoctl version --client`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			commit := buildinfo.GitCommit
			if commit == "" {
				commit = unknown
			}
			fmt.Fprintf(a.stdout, "Client Version:    %s\n", buildinfo.Version)
			fmt.Fprintf(a.stdout, "Git commit:        %s\n", commit)
			if clientOnly {
				return nil
			}
			version, clusterType, err := a.clusterVersion(cmd.Context())
			if err != nil {
				fmt.Fprintf(a.stderr, "Unable to retrieve Cluster Version or Type: %v\n", err)
				return failed("cluster version unavailable")
			}
			fmt.Fprintf(a.stdout, "Cluster Version:   %s\n", version)
			fmt.Fprintf(a.stdout, "Cluster Type:      %s\n", clusterType)
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "show the client version only")
	return cmd
}

// clusterVersion reads the Calico version and cluster type from
// ClusterInformation "default"; both are "unknown" when it is absent.
func (a *app) clusterVersion(ctx context.Context) (version, clusterType string, err error) {
	c, closeFn, err := a.connect(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeFn()
	r, err := c.Get(ctx, "ClusterInformation", "", "default")
	if errors.Is(err, datastore.ErrNotFound) {
		return unknown, unknown, nil
	}
	if err != nil {
		return "", "", err
	}
	obj, err := jsonObject(r)
	if err != nil {
		return "", "", err
	}
	version = formatValue(lookupPath(obj, []string{"spec", "calicoVersion"}))
	clusterType = formatValue(lookupPath(obj, []string{"spec", "clusterType"}))
	if version == "" {
		version = unknown
	}
	if clusterType == "" {
		clusterType = unknown
	}
	return version, clusterType, nil
}
