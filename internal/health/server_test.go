package health

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestProbes(t *testing.T) {
	a, _ := newTestAggregator()
	a.Register("syncer", false, true, 0)
	a.Register("dataplane", true, true, 0)
	srv := httptest.NewServer(Handler(a, nil, nil))
	defer srv.Close()

	type probeResult struct {
		Code int
		Body probeBody
	}
	check := func(path string, want probeResult) {
		t.Helper()
		code, body, hdr := get(t, srv.URL+path)
		var got probeResult
		got.Code = code
		if err := json.Unmarshal([]byte(body), &got.Body); err != nil {
			t.Fatalf("%s: %v in %q", path, err, body)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", path, d)
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}

	check("/liveness", probeResult{503, probeBody{"fail", []probeEntry{{"dataplane", false, false, "no report yet"}}}})
	check("/readiness", probeResult{503, probeBody{"fail", []probeEntry{
		{"dataplane", false, false, "no report yet"}, {"syncer", false, false, "no report yet"}}}})

	a.Report("dataplane", true, false, "programming 12 endpoints")
	check("/liveness", probeResult{200, probeBody{"ok", []probeEntry{{"dataplane", true, false, ""}}}})
	check("/readiness", probeResult{503, probeBody{"fail", []probeEntry{
		{"dataplane", false, false, "programming 12 endpoints"}, {"syncer", false, false, "no report yet"}}}})

	a.Report("dataplane", true, true, "")
	a.Report("syncer", false, true, "in sync")
	check("/readiness", probeResult{200, probeBody{"ok", []probeEntry{{"dataplane", true, false, ""}, {"syncer", true, false, ""}}}})

	// A degraded component: still ready (200), status degraded, naming
	// what; a component that counts for no probe still shows why.
	a.ReportState("dataplane", State{Live: true, Ready: true, Degraded: true, Detail: "1 endpoint failed: default/w1"})
	check("/readiness", probeResult{200, probeBody{"degraded", []probeEntry{
		{"dataplane", true, true, "1 endpoint failed: default/w1"}, {"syncer", true, false, ""}}}})
	check("/liveness", probeResult{200, probeBody{"degraded", []probeEntry{{"dataplane", true, true, "1 endpoint failed: default/w1"}}}})
	a.Register("datastore", false, false, 0)
	a.ReportState("datastore", State{Live: true, Ready: true, Degraded: true, Detail: "unreachable"})
	a.Report("dataplane", true, true, "")
	check("/readiness", probeResult{200, probeBody{"degraded", []probeEntry{
		{"dataplane", true, false, ""}, {"datastore", true, true, "unreachable"}, {"syncer", true, false, ""}}}})
	a.ReportState("datastore", State{Live: true, Ready: true})
	check("/readiness", probeResult{200, probeBody{"ok", []probeEntry{{"dataplane", true, false, ""}, {"syncer", true, false, ""}}}})

	// Verbose: every component, in full.
	code, body, _ := get(t, srv.URL+"/liveness?verbose")
	var vb verboseBody
	if err := json.Unmarshal([]byte(body), &vb); err != nil {
		t.Fatal(err)
	}
	if code != 200 || vb.Status != "ok" || !vb.Live || !vb.Ready || len(vb.Components) != 3 ||
		vb.Components[2].Name != "syncer" || vb.Components[2].Detail != "in sync" || vb.Components[2].LastReport.IsZero() {
		t.Errorf("verbose: %d %s", code, body)
	}
}

func TestProbesEmptyAggregator(t *testing.T) {
	srv := httptest.NewServer(Handler(NewAggregator(), nil, nil))
	defer srv.Close()
	for _, p := range []string{"/liveness", "/readiness"} {
		code, body, _ := get(t, srv.URL+p)
		if code != 200 || strings.Join(strings.Fields(body), "") != `{"status":"ok","components":[]}` {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	code, body, _ := get(t, srv.URL+"/readiness?verbose=1")
	if code != 200 || strings.Join(strings.Fields(body), "") != `{"status":"ok","live":true,"ready":true,"components":[]}` {
		t.Errorf("verbose: %d %s", code, body)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	srv := httptest.NewServer(Handler(NewAggregator(), nil, nil))
	defer srv.Close()
	tests := []struct {
		method, path string
		want         int
	}{
		{"HEAD", "/liveness", 200},
		{"POST", "/liveness", 405},
		{"DELETE", "/readiness", 405},
		{"GET", "/metrics", 404}, // no registry given
		{"GET", "/", 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "calico_test_events_total", Help: "Test events."})
	reg.MustRegister(c)
	c.Add(3)
	srv := httptest.NewServer(Handler(NewAggregator(), reg, nil))
	defer srv.Close()
	code, body, _ := get(t, srv.URL+"/metrics")
	if code != 200 || !strings.Contains(body, "calico_test_events_total 3\n") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "", want: "127.0.0.1:9099"},
		{in: ":9099", want: "127.0.0.1:9099"},
		{in: "localhost:9091", want: "127.0.0.1:9091"},
		{in: "127.0.0.1:0", want: "127.0.0.1:0"},
		{in: "[::1]:9099", want: "[::1]:9099"},
		{in: "0.0.0.0:9099", want: "0.0.0.0:9099"},
		{in: "[::]:9099", want: "[::]:9099"},
		{in: "10.0.0.5:9099", want: "10.0.0.5:9099"},
		{in: "example.com:9099", err: `host "example.com" is not an IP address`},
		{in: "9099", err: "missing port"},
		{in: "127.0.0.1:http", err: `port "http" is not a number`},
		{in: "127.0.0.1:70000", err: `port "70000" is not a number`},
	}
	for _, tt := range tests {
		got, err := ListenAddr(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ListenAddr(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
			}
		case err != nil || got != tt.want:
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "0.0.0.0:1": false, "10.0.0.5:1": false} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%s) = %v", addr, got)
		}
	}
}

// TestServeListener runs the real server on a loopback port and stops it.
func TestServeListener(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := NewAggregator()
	a.Register("agent", true, true, time.Minute)
	a.Report("agent", true, true, "")
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, a, reg, nil) }()

	base := "http://" + ln.Addr().String()
	for _, p := range []string{"/liveness", "/readiness", "/metrics"} {
		if code, body, _ := get(t, base+p); code != 200 {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeListener: %v", err)
	}
	if _, err := http.Get(base + "/liveness"); err == nil {
		t.Error("server still answering after stop")
	}
}

func TestServe(t *testing.T) {
	// A taken port is an error, returned at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(context.Background(), ln.Addr().String(), NewAggregator(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Serve on a taken port: %v", err)
	}
	// A refused address is an error, nothing is bound.
	if err := Serve(context.Background(), "example.com:9099", NewAggregator(), nil, nil); err == nil {
		t.Error("Serve on a host name succeeded")
	}
	// A loopback port: serves until cancelled, then returns nil.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", NewAggregator(), nil, nil) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
