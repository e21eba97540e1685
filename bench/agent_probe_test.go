package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the agent benchmarks read of calico-node while it runs: its
// readiness and metrics (over HTTP from inside its namespace) and its
// CPU time and memory (from /proc).

// httpGet fetches url from inside host1's namespace.
func (a *agentLab) httpGet(url string) (int, []byte, error) {
	c := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DialContext: a.ns.dial, DisableKeepAlives: true},
	}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// ready reports whether calico-node in host1 answers /readiness with 200.
func (a *agentLab) ready() bool {
	code, _, err := a.httpGet(healthURL)
	return err == nil && code == http.StatusOK
}

// waitReady polls /readiness every 5ms and returns when it first answered
// 200.
func (a *agentLab) waitReady(timeout time.Duration) time.Time {
	a.b.Helper()
	deadline := time.Now().Add(timeout)
	for !a.ready() {
		if time.Now().After(deadline) {
			a.b.Fatalf("%s: calico-node not ready after %v", a.host, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

// agentLatencyMetric reads the agent's own programming latency histogram
// (update arrival at the agent -> applied): its count and sum.
func (a *agentLab) agentLatencyMetric() (count float64, sum time.Duration) {
	return a.histogramMetric("calico_agent_programming_latency_seconds")
}

// histogramMetric reads one of calico-node's histograms: its count and
// sum (zero when it cannot be read).
func (a *agentLab) histogramMetric(name string) (count float64, sum time.Duration) {
	code, body, err := a.httpGet(metricsURL)
	if err != nil || code != http.StatusOK {
		return 0, 0
	}
	for _, line := range strings.Split(string(body), "\n") {
		n, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
		switch n {
		case name + "_sum":
			sum = time.Duration(v * float64(time.Second))
		case name + "_count":
			count = v
		}
	}
	return count, sum
}

// procUsage is what the benchmarks read of calico-node from /proc.
type procUsage struct {
	CPU    time.Duration // utime + stime
	PeakMB float64       // VmHWM
	RSSMB  float64       // VmRSS
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func readProcUsage(pid int) (procUsage, error) {
	var u procUsage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return u, fmt.Errorf("pid %d: bad stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("pid %d: short stat", pid)
	}
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, fmt.Errorf("pid %d: stat: %w", pid, err)
	}
	u.CPU = time.Duration(ut+st) * clockTick
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(s), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmHWM":
			u.PeakMB = kb / 1024
		case "VmRSS":
			u.RSSMB = kb / 1024
		}
	}
	return u, nil
}

func (a *agentLab) usage() procUsage {
	a.b.Helper()
	u, err := readProcUsage(a.nodePID())
	if err != nil {
		a.b.Fatalf("calico-node: %v", err)
	}
	return u
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
