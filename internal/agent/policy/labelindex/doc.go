// Package labelindex tracks, incrementally, which labelled items (endpoints
// and network sets) match which selectors, and from that the contents of
// the IP sets that policy rules refer to.
//
// An item's labels are its own labels layered over those of its parents
// (profiles, which carry namespace and service account labels): a key the
// item sets itself wins, otherwise the first listed parent that sets it.
//
// Work done on a change is proportional to what the change can affect, not
// to the size of the index: selectors are indexed by a label (and values)
// every match must carry, items by their own labels and by the parents
// they list, and a change re-evaluates only selectors that read a label
// whose effective value changed. Index reports match transitions; IPSets
// builds reference-counted set members on top of it.
//
// Neither type is safe for concurrent use: one goroutine owns each, and
// callbacks run synchronously and must not call back into it.
package labelindex
