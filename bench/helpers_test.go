package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// wepJSON returns a realistic stored WorkloadEndpoint (about 700 bytes).
func wepJSON(i int) (key string, value []byte) {
	node := fmt.Sprintf("node-%d", i%500)
	pod := fmt.Sprintf("pod-%d", i)
	w := v3.NewWorkloadEndpoint()
	w.Metadata.Namespace = fmt.Sprintf("ns-%d", i%50)
	w.Metadata.UID = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	w.Metadata.CreationTimestamp = v3.NewTime(time.Unix(1_700_000_000, 0))
	w.Metadata.Labels = map[string]string{"app": fmt.Sprintf("app-%d", i%100), "tier": "backend",
		"projectcalico.org/namespace": w.Metadata.Namespace, "projectcalico.org/orchestrator": "k8s"}
	w.Spec.Orchestrator = "k8s"
	w.Spec.Node = node
	w.Spec.Pod = pod
	w.Spec.Endpoint = "eth0"
	w.Spec.ContainerID = fmt.Sprintf("%064x", i)
	w.Spec.InterfaceName = fmt.Sprintf("cali%011x", i)
	w.Spec.MAC = "ee:ee:ee:ee:ee:ee"
	w.Spec.IPNetworks = []string{fmt.Sprintf("10.%d.%d.%d/32", (i>>16)&255, (i>>8)&255, i&255)}
	w.Spec.Profiles = []string{"kns." + w.Metadata.Namespace, "ksa." + w.Metadata.Namespace + ".default"}
	name, err := v3.WorkloadEndpointName(node, "k8s", pod, "eth0")
	if err != nil {
		panic(err)
	}
	w.Metadata.Name = name
	b, err := json.Marshal(w)
	if err != nil {
		panic(err)
	}
	return resources.Prefix + "workloadendpoints/" + w.Metadata.Namespace + "/" + name, b
}

// load writes n WEPs (wepJSON) with bounded concurrency.
func load(tb testing.TB, be datastore.Backend, n int) {
	tb.Helper()
	loadKVs(tb, be, n, wepJSON)
}

// resetPeakRSS makes VmHWM start again from the current RSS.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMB reads VmHWM (peak resident set size) of this process.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

// heapSampler records the highest HeapInuse seen while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) peakMB() float64 {
	close(h.stop)
	return float64(<-h.done) / (1 << 20)
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}
