// Command calico-ipam is the Calico CNI IPAM plugin: it hands out
// container addresses from Calico's IP pools.
package main

import "github.com/gocalico/calico/internal/cni"

func main() { cni.IPAMMain() }
