// Command calicoctl manages Calico v3 resources in the etcd datastore.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gocalico/calico/internal/calicoctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := calicoctl.NewRootCommand(os.Stdin, os.Stdout, os.Stderr)
	err := calicoctl.Execute(ctx, root)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
