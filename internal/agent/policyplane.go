package agent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/agent/policy"
)

// policyPlane programs the agent's nftables table. *nft.Applier is the
// real one.
type policyPlane interface {
	// Apply makes the table equal to rs in one transaction.
	Apply(ctx context.Context, rs *nft.Ruleset) error
	// Resync makes the next Apply compare with the kernel's table
	// instead of with what was last applied (repairs tampering).
	Resync()
	// Counters reads the per-rule counters, keyed by rule comment.
	Counters(ctx context.Context) (map[string]nft.Counter, error)
	Close() error
}

// openPolicyPlane opens the nftables applier for the namespace spec
// (Config.NetNS: a path, a name under /run/netns, or "" for the
// process's own).
func openPolicyPlane(spec string, log *slog.Logger) (*nft.Applier, error) {
	var opts []nft.Option
	if spec != "" {
		path := netnsPath(spec)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open network namespace %s: %w", path, err)
		}
		// The applier keeps its own duplicate.
		defer unix.Close(fd)
		opts = append(opts, nft.WithNetNSFd(fd))
	}
	return nft.NewApplier(policy.TableName, log, opts...)
}

// netnsPath resolves Config.NetNS: a path, a name under /run/netns, or
// "" for the calling thread's own namespace.
func netnsPath(spec string) string {
	switch {
	case spec == "":
		return "/proc/thread-self/ns/net"
	case !strings.Contains(spec, "/"):
		return filepath.Join("/run/netns", spec)
	}
	return spec
}

// ruleHits exports the per-rule counters of the agent's table as
// Prometheus counters, read from the kernel at scrape time. Rules that
// one Calico rule was rendered into (one per address family or named
// port) are added up.
type ruleHits struct {
	plane          policyPlane
	packets, bytes *prometheus.Desc
}

func newRuleHits(plane policyPlane) *ruleHits {
	labels := []string{"kind", "namespace", "name", "direction", "rule"}
	return &ruleHits{
		plane: plane,
		packets: prometheus.NewDesc("calico_agent_policy_rule_packets_total",
			"Packets that matched a policy or profile rule on this host.", labels, nil),
		bytes: prometheus.NewDesc("calico_agent_policy_rule_bytes_total",
			"Bytes of the packets that matched a policy or profile rule on this host.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (h *ruleHits) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.packets
	ch <- h.bytes
}

// Collect implements prometheus.Collector.
func (h *ruleHits) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counters, err := h.plane.Counters(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(h.packets, err)
		return
	}
	type key struct{ kind, ns, name, dir, rule string }
	sum := map[key]nft.Counter{}
	for comment, c := range counters {
		k, ok := parseRuleComment(comment)
		if !ok {
			continue
		}
		s := sum[key(k)]
		s.Packets += c.Packets
		s.Bytes += c.Bytes
		sum[key(k)] = s
	}
	for k, c := range sum {
		ch <- prometheus.MustNewConstMetric(h.packets, prometheus.CounterValue, float64(c.Packets), k.kind, k.ns, k.name, k.dir, k.rule)
		ch <- prometheus.MustNewConstMetric(h.bytes, prometheus.CounterValue, float64(c.Bytes), k.kind, k.ns, k.name, k.dir, k.rule)
	}
}

type ruleRef struct{ kind, ns, name, dir, rule string }

// parseRuleComment reads a rule comment as the policy calculation writes
// it: "<g|n>/<policy ID>:<in|eg>:<rule index>[.<variant>]" for policies
// and "pr/<profile>:<in|eg>:<rule index>[.<variant>]" for profiles.
func parseRuleComment(c string) (ruleRef, bool) {
	head, rest, ok := strings.Cut(c, ":")
	if !ok {
		return ruleRef{}, false
	}
	dir, idx, ok := strings.Cut(rest, ":")
	if !ok || idx == "" {
		return ruleRef{}, false
	}
	idx, _, _ = strings.Cut(idx, ".")
	switch dir {
	case "in":
		dir = "ingress"
	case "eg":
		dir = "egress"
	default:
		return ruleRef{}, false
	}
	kind, id, ok := strings.Cut(head, "/")
	if !ok {
		return ruleRef{}, false
	}
	r := ruleRef{dir: dir, rule: idx}
	switch kind {
	case "g":
		r.kind, r.name = "GlobalNetworkPolicy", strings.TrimPrefix(id, "g-")
	case "n":
		r.kind = "NetworkPolicy"
		r.ns, r.name, ok = strings.Cut(strings.TrimPrefix(id, "n-"), ".")
		if !ok {
			return ruleRef{}, false
		}
	case "pr":
		r.kind, r.name = "Profile", id
	default:
		return ruleRef{}, false
	}
	return r, true
}
