// Package upstream proves that this project and upstream Calico v3 can
// share one etcd datastore: its tests write resources with one side's
// client and read them with the other's, using upstream's own libcalico-go
// clientv3 (the library calicoctl and Felix use) as the upstream side.
package upstream
