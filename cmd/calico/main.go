// Command calico is the Calico CNI plugin: it attaches containers to the
// host's routed network and records them as WorkloadEndpoints.
package main

import "github.com/gocalico/calico/internal/cni"

func main() { cni.CalicoMain() }
