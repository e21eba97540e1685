package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// Barriers: a check that something did NOT happen (traffic still
// blocked, a route not there) proves nothing if the agent has not yet
// acted on the change. These helpers wait for evidence that it has: each
// agent's calico_agent_applied_revision{prefix} (docs/agent.md) reaching
// the revision of the test's own writes.

// write is one datastore write the agents must apply: the key and the
// revision it was written (or deleted) at.
type write struct {
	key string
	rev int64
}

// scrape reads host's agent metrics from 127.0.0.1:9099 inside the
// host's namespace: series (name{labels}) -> value.
func (l *testLab) scrape(host string) (map[string]float64, error) {
	var c net.Conn
	err := l.Run(host, func() (err error) {
		// The socket is made on this thread, in the namespace, and
		// keeps it afterwards.
		c, err = net.DialTimeout("tcp", "127.0.0.1:9099", 5*time.Second)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: metrics: %w", host, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return nil, fmt.Errorf("%s: metrics: %w", host, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: metrics: %w", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: metrics: %s", host, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format: series -> value.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// metric is the value of one series of host's agent (0 when absent).
func (l *testLab) metric(host, series string) (float64, error) {
	m, err := l.scrape(host)
	if err != nil {
		return 0, err
	}
	return m[series], nil
}

// metricNow is one series of host's agent metrics (0 when absent).
func (l *testLab) metricNow(host, series string) float64 {
	l.t.Helper()
	v, err := l.metric(host, series)
	if err != nil {
		l.t.Fatal(err)
	}
	return v
}

// waitMetric waits until a series of host's agent metrics is at least
// min.
func (l *testLab) waitMetric(host, series string, min float64) {
	l.t.Helper()
	d := l.eventually(converge+10*routeRefresh, fmt.Sprintf("%s: %s >= %v", host, series, min), func() (bool, string) {
		v, err := l.metric(host, series)
		if err != nil {
			l.failIfNodeGone(host)
			return false, err.Error()
		}
		return v >= min, fmt.Sprintf("%v", v)
	})
	l.t.Logf("%s: %s >= %v after %v", host, series, min, d.Round(time.Millisecond))
}

// appliedRevision is host's calico_agent_applied_revision for the
// prefix that holds key (0 when the agent has applied nothing there).
func appliedRevision(m map[string]float64, key string) int64 {
	const name = `calico_agent_applied_revision{prefix="`
	for series, v := range m {
		prefix, ok := strings.CutPrefix(series, name)
		if !ok {
			continue
		}
		if prefix, ok = strings.CutSuffix(prefix, `"}`); ok && strings.HasPrefix(key, prefix) {
			return int64(v)
		}
	}
	return 0
}

// backend is the lab's datastore, failing the test if it cannot be had.
func (l *testLab) backend() datastore.Backend {
	l.t.Helper()
	be, err := l.Backend(l.ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	return be
}

// putRevision is the write that left key as it is now: its mod revision.
// Called right after the test wrote key, it is that write's revision (or
// a later one of the same key, which covers it).
func (l *testLab) putRevision(key string) write {
	l.t.Helper()
	kv, err := l.backend().Get(l.ctx, key)
	if err != nil {
		l.t.Fatalf("revision of %s: %v", key, err)
	}
	return write{key, kv.ModRevision}
}

// modRevision is key's mod revision, 0 when it does not exist.
func (l *testLab) modRevision(key string) int64 {
	l.t.Helper()
	kv, err := l.backend().Get(l.ctx, key)
	if errors.Is(err, datastore.ErrNotFound) {
		return 0
	}
	if err != nil {
		l.t.Fatalf("revision of %s: %v", key, err)
	}
	return kv.ModRevision
}

// deleteRevision is the revision key was deleted at, after it was last
// written at before (its mod revision before the test deleted it): the
// first delete of key in the history after before.
func (l *testLab) deleteRevision(key string, before int64) write {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, converge)
	defer cancel()
	for resp := range l.backend().Watch(ctx, key, before+1) {
		if resp.Err != nil {
			l.t.Fatalf("watch %s from revision %d: %v", key, before+1, resp.Err)
		}
		for _, ev := range resp.Events {
			if ev.KV.Key == key && ev.Type == datastore.EventDelete {
				return write{key, ev.KV.ModRevision}
			}
		}
	}
	l.t.Fatalf("no delete of %s after revision %d within %v", key, before, converge)
	return write{}
}

// resourceKey is the datastore key of a resource.
func (l *testLab) resourceKey(kind, namespace, name string) string {
	l.t.Helper()
	info, ok := v3.LookupKind(kind)
	if !ok {
		l.t.Fatalf("unknown kind %q", kind)
	}
	key, err := resources.Key(info, namespace, name)
	if err != nil {
		l.t.Fatal(err)
	}
	return key
}

// keysOf are the keys of the resources in a YAML file.
func (l *testLab) keysOf(yaml string) []string {
	l.t.Helper()
	docs, err := v3.SplitDocuments([]byte(yaml))
	if err != nil {
		l.t.Fatal(err)
	}
	var keys []string
	for _, d := range docs {
		r, err := v3.Decode(d.Raw)
		if err != nil {
			l.t.Fatalf("%s: %v", d.Location(), err)
		}
		key, err := resources.KeyOf(r)
		if err != nil {
			l.t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

// waitApplied waits until the agent of every host has applied every
// write: its applied revision for the write's prefix has reached the
// write's revision. Then the kernel of every host holds the desired state
// those writes lead to, and a check that something is still blocked, or
// absent, tests the change.
func (l *testLab) waitApplied(ws ...write) {
	l.t.Helper()
	if len(ws) == 0 {
		return
	}
	var hosts []string
	for _, h := range l.Hosts() {
		hosts = append(hosts, h.Name)
	}
	slices.Sort(hosts)
	d := l.eventually(converge, fmt.Sprintf("agents on %s applied %d writes", strings.Join(hosts, ", "), len(ws)), func() (bool, string) {
		for _, h := range hosts {
			m, err := l.scrape(h)
			if err != nil {
				l.failIfNodeGone(h)
				return false, err.Error()
			}
			for _, w := range ws {
				if got := appliedRevision(m, w.key); got < w.rev {
					return false, fmt.Sprintf("%s: applied revision %d for %s, want >= %d", h, got, w.key, w.rev)
				}
			}
		}
		return true, ""
	})
	l.t.Logf("agents applied %d writes (up to revision %d) after %v", len(ws), maxRev(ws), d.Round(time.Millisecond))
}

// failIfNodeGone fails the test at once if host's calico-node has exited:
// no wait on its metrics can succeed then.
func (l *testLab) failIfNodeGone(host string) {
	l.t.Helper()
	if !l.NodeRunning(host) {
		l.t.Fatalf("%s: calico-node exited", host)
	}
}

func maxRev(ws []write) int64 {
	var m int64
	for _, w := range ws {
		m = max(m, w.rev)
	}
	return m
}
