// Package datastore holds the integration tests of the datastore as users
// see it: calicoctl run in-process against a real embedded etcd, checked
// against the raw keys and values etcd holds.
package datastore
