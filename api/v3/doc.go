// Package v3 defines the projectcalico.org/v3 resource kinds with their etcd
// wire format, defaulting, validation and decoding of user input.
package v3
