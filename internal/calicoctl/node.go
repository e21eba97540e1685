package calicoctl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gocalico/calico/internal/bgp/birdctl"
)

// DefaultBIRDSocket is where calico-node's BIRD listens for control
// commands unless CALICO_BIRD_SOCKET says otherwise.
const DefaultBIRDSocket = "/var/run/calico/bird.ctl"

func newNodeCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Inspect the Calico node on this host",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newNodeStatusCommand(a))
	return cmd
}

func newNodeStatusCommand(a *app) *cobra.Command {
	var socket, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the BGP sessions of this host's BIRD",
		Long: `Show whether this host's BIRD (run by calico-node) answers on its control
socket and the state of each of its BGP sessions to Calico peers: the
node-to-node mesh (BIRD protocols Mesh_*), node-specific BGPPeers (Node_*)
and global BGPPeers (Global_*), split into IPv4 and IPv6 peers.

The exit status is 1 when BIRD does not answer.`,
		Example: `  calicoctl node status
  calicoctl node status -o json
  calicoctl node status --bird-socket /var/run/calico/bird.ctl`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var asJSON bool
			switch output {
			case "", "table", "ps":
			case "json":
				asJSON = true
			default:
				return usagef("unknown output format %q: use json, or none for a table", output)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
			defer cancel()
			st, err := nodeStatus(ctx, socket)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
			} else {
				printNodeStatus(a.stdout, st)
			}
			if err != nil {
				fmt.Fprintf(a.stderr, "Error: %v\n", err)
				return failed("BIRD not answering")
			}
			return nil
		},
	}
	def := os.Getenv("CALICO_BIRD_SOCKET")
	if def == "" {
		def = DefaultBIRDSocket
	}
	cmd.Flags().StringVar(&socket, "bird-socket", def, "BIRD's control socket (env CALICO_BIRD_SOCKET)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json, or none for a table")
	return cmd
}

// nodeStatus asks BIRD for its protocols. When BIRD does not answer the
// result says not running, with the error.
func nodeStatus(ctx context.Context, socket string) (nodeStatusReport, error) {
	c, err := birdctl.Dial(ctx, socket)
	if err != nil {
		return notRunning(err), err
	}
	defer c.Close()
	ps, err := c.Protocols(ctx)
	if err != nil {
		err = fmt.Errorf("bird control socket %s: show protocols: %w", socket, err)
		return notRunning(err), err
	}
	return peerStatus(ps), nil
}

func notRunning(err error) nodeStatusReport {
	return nodeStatusReport{IPv4: []peerRow{}, IPv6: []peerRow{}, Error: err.Error()}
}
