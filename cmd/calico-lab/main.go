// Command calico-lab builds a Calico lab out of network namespaces on one
// machine: a fabric, hosts running calico-node, and workloads.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gocalico/calico/internal/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := lab.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
