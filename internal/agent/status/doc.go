// Package status reports the agent's liveness and its workload endpoints'
// status to the datastore, in the keys upstream Felix writes, so that
// orchestrators (the OpenStack Neutron driver) and upstream tools read them
// unchanged.
//
// Keys (region segment "no-region" or "region-<openstackRegion>"):
//
//	/calico/felix/v2/<region>/host/<host>/status                 {"time":..,"uptime":..,"first_update":..}, on a lease
//	/calico/felix/v2/<region>/host/<host>/last_reported_status   the same value, no lease
//	/calico/felix/v2/<region>/host/<host>/workload/<orch>/<workload>/endpoint/<endpoint>   {"status":"up"|"down"|"error"}
//
// The status report is written every ReportingInterval on one lease of
// ReportingTTL that is refreshed before each write and granted again when
// it has expired (an etcd outage longer than the TTL, say).
//
// Endpoint statuses are level-triggered: the agent passes the full current
// set and the reporter writes the difference to etcd, at most
// MaxWritesPerSecond writes a second. A key is queued once however often
// its endpoint changes and is written with its latest status. Nothing is
// written before the first set arrives (the agent calls SetEndpoints once
// it is in sync); then the host's endpoint status keys are listed, and
// keys left by an earlier run that match no current endpoint are deleted.
// The listing is repeated every EndpointResyncInterval, which repairs
// keys changed or deleted behind the reporter's back.
//
// Only keys under /calico/felix/v2/<region>/host/<host>/ are ever written
// or deleted.
//
// Stopping (cancelling Run's context) revokes the lease, so the status key
// goes at once, and deletes the host's endpoint status keys; only
// last_reported_status stays. Upstream Felix leaves endpoint statuses in
// place when it stops. We delete them by default because a status that
// nobody maintains any more is a stale claim; after a restart they come
// back once the agent is in sync again. The cost: the OpenStack Neutron
// driver reports a deleted endpoint status as port status ERROR, so while
// the agent is stopped its ports show ERROR even though the dataplane
// keeps forwarding. Deployments that prefer upstream's behaviour (rolling
// agent upgrades under OpenStack) set Config.KeepEndpointsOnStop. A crash
// (SIGKILL) leaves the endpoint keys in place either way; the next run
// cleans up whatever is stale.
//
// When endpoint reporting is disabled the host's endpoint status keys are
// deleted once (upstream Felix simply stops writing them; deleting them
// means no stale status outlives the setting, with the same Neutron
// consequence as above).
package status
