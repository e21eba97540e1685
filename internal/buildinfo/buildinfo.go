// Package buildinfo holds the version stamped into every binary at link time.
package buildinfo

// Version is set with -ldflags "-X github.com/gocalico/calico/internal/buildinfo.Version=...".
var Version = "v3.30.0-gocalico-dev"

// GitCommit is set the same way; empty when not stamped.
var GitCommit = ""
