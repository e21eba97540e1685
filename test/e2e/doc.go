// Package e2e holds the privileged end-to-end tests: real calico-node
// processes (datastore, agents) on a network-namespace lab built by
// internal/lab, checked with real traffic and the real kernel state.
//
// Every test is named TestPrivileged... and skips unless it runs as root
// with calico-node and calicoctl built in <repo>/bin (make build; `make
// test-e2e` does both). Each test brings up its own small lab, named
// e2e<pid>-<n>, and takes it down in t.Cleanup; labs left by a killed run
// are removed at the next start. The machine's root network namespace is
// snapshotted around every lab and around the whole suite and must not
// change.
//
// A check that something did not happen (a probe still blocked, a route
// not there) first waits for evidence that the agents have acted on the
// test's writes: every agent's calico_agent_applied_revision reaching the
// writes' revisions (barrier_test.go), a counter that moved, a status
// key written again. Never a fixed sleep: a slow agent would make the
// check pass without testing anything.
package e2e
