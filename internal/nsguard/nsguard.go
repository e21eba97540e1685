// Package nsguard keeps the project's own tests off the machine's
// network: with Env set (the test targets set it), a component that
// programs the network refuses to run anywhere but in a named network
// namespace, one under /run/netns as the lab and the tests make them. The
// machine's own namespace is never named.
package nsguard

import (
	"fmt"
	"path/filepath"
	"syscall"
)

// Env is the variable that turns the guard on.
const Env = "CALICO_REFUSE_INIT_NETNS"

// Named reports whether the network namespace at path (for example
// /proc/thread-self/ns/net) is one of the named ones.
func Named(path string) (bool, error) {
	self, err := nsID(path)
	if err != nil {
		return false, fmt.Errorf("%s is set and this network namespace cannot be checked: %w", Env, err)
	}
	named, _ := filepath.Glob("/run/netns/*")
	for _, p := range named {
		if id, err := nsID(p); err == nil && id == self {
			return true, nil
		}
	}
	return false, nil
}

// nsID identifies a namespace file by device and inode.
func nsID(path string) ([2]uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return [2]uint64{}, err
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}
