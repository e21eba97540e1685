// Command calico-node is the per-host Calico daemon: it registers the
// host's Node, runs the agent (routes, neighbours and policy in the host's
// kernel, status reporting) and BIRD for BGP, and can serve an embedded
// datastore (--embedded-etcd); it creates the datastore's start-up
// defaults.
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
