// Package bench holds the scale benchmarks (make bench). Each reports its
// numbers with b.ReportMetric; bench/RESULTS.md records them with the
// command that produced them.
package bench
