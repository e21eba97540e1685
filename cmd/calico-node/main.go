// Command calico-node is the per-host Calico daemon. Today it serves the
// embedded datastore (--embedded-etcd) and creates the datastore's startup
// defaults; the agent and BGP parts arrive in later issues.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gocalico/calico/internal/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := node.NewCommand()
	cmd.SetContext(ctx)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "calico-node:", err)
		os.Exit(1)
	}
}
