package birdctl

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProtocolsAll(t *testing.T) {
	lines, err := readCaptured(t, "show-protocols-all.txt")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	up4 := func(table string, rc *RouteCounts) []Channel {
		return []Channel{{Name: "ipv4", State: "UP", Table: table, Routes: rc}}
	}
	want := []Protocol{
		{Name: "device1", Proto: "Device", Table: "---", State: "up", Since: "20:02:58.622"},
		{Name: "kernel1", Proto: "Kernel", Table: "master4", State: "up", Since: "20:02:58.622",
			Channels: up4("master4", &RouteCounts{})},
		{Name: "Mesh_10_123_0_2", Proto: "BGP", Table: "---", State: "up", Since: "20:02:59.421", Info: "Established",
			BGPState: "Established", Neighbor: a("10.123.0.2"), NeighborAS: 64512, LocalAS: 64512,
			NeighborID: "10.123.0.2", SourceAddr: a("10.123.0.1"),
			Channels: up4("master4", &RouteCounts{Imported: 1, Exported: 1, Preferred: 1})},
		{Name: "Node_10_123_0_9", Proto: "BGP", Table: "---", State: "start", Since: "20:04:08.048", Info: "Active Socket: No route to host",
			BGPState: "Active", Neighbor: a("10.123.0.9"), NeighborAS: 64513, LocalAS: 64512,
			LastError: "Socket: No route to host",
			Channels:  []Channel{{Name: "ipv4", State: "DOWN", Table: "master4"}}},
		{Name: "Global_fd00_123__9", Proto: "BGP", Table: "---", State: "start", Since: "20:04:08.048", Info: "Active Socket: No route to host",
			BGPState: "Active", Neighbor: a("fd00:123::9"), NeighborAS: 64512, LocalAS: 64512,
			LastError: "Socket: No route to host",
			Channels:  []Channel{{Name: "ipv6", State: "DOWN", Table: "master6"}}},
		{Name: "static1", Proto: "Static", Table: "master4", State: "up", Since: "20:02:58.622",
			Channels: up4("master4", &RouteCounts{Imported: 1, Preferred: 1})},
	}
	got := ParseProtocols(lines)
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("protocols (-want +got):\n%s", diff)
	}
	imp, exp, ok := got[2].Routes()
	if imp != 1 || exp != 1 || !ok {
		t.Errorf("Mesh routes = %d, %d, %v; want 1, 1, true", imp, exp, ok)
	}
	if _, _, ok := got[3].Routes(); ok {
		t.Error("a protocol whose channels are down reports route counts")
	}
}

// TestParseProtocolsISOLong: with "timeformat protocol iso long" Since is
// a date and a time; a disabled BGP protocol is down with no info.
func TestParseProtocolsISOLong(t *testing.T) {
	lines, err := readCaptured(t, "show-protocols-all-isolong.txt")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Name, State, Since, Info, BGPState string }
	var got []row
	for _, p := range ParseProtocols(lines) {
		if p.IsBGP() {
			got = append(got, row{p.Name, p.State, p.Since, p.Info, p.BGPState})
		}
	}
	want := []row{
		{"Mesh_10_123_0_2", "up", "2026-11-22 20:02:59", "Established", "Established"},
		{"Node_10_123_0_9", "start", "2026-11-22 20:04:08", "Connect Socket: No route to host", "Connect"},
		{"Global_fd00_123__9", "start", "2026-11-22 20:04:08", "Active Socket: No route to host", "Active"},
		{"Node_10_123_0_8", "down", "2026-11-22 20:05:03", "", "Down"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BGP protocols (-want +got):\n%s", diff)
	}
}

// TestParseProtocolsSummary: plain `show protocols` has the summary lines
// only, as continuations of the first.
func TestParseProtocolsSummary(t *testing.T) {
	lines, err := readCaptured(t, "show-protocols.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ParseProtocols(lines) {
		names = append(names, p.Name+" "+p.Proto+" "+p.State+" "+p.Info)
	}
	want := []string{
		"device1 Device up ",
		"kernel1 Kernel up ",
		"Mesh_10_123_0_2 BGP up Established",
		"Node_10_123_0_9 BGP start Active Socket: No route to host",
		"Global_fd00_123__9 BGP start Active Socket: No route to host",
		"static1 Static up ",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("protocols (-want +got):\n%s", diff)
	}
}

func TestParseProtocolsOddInput(t *testing.T) {
	lines := []Line{
		{1006, "  BGP state: Established"}, // detail before any protocol
		{1002, "short line"},
		{1006, "  Neighbor AS: 64512"}, // belongs to the skipped line
		{1002, "p1 BGP --- up 10:00:00"},
		{1006, "  Neighbor address: not-an-ip"},
		{1006, "  Neighbor AS: 99999999999"},
		{1006, "  Channel ipv4"},
		{1006, "    Routes: x imported, -1 exported, 3 bananas"},
		{1006, "no colon here"},
	}
	got := ParseProtocols(lines)
	want := []Protocol{{Name: "p1", Proto: "BGP", Table: "---", State: "up", Since: "10:00:00", Channels: []Channel{{Name: "ipv4"}}}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("protocols (-want +got):\n%s", diff)
	}
}

func TestParseStatus(t *testing.T) {
	lines, err := readCaptured(t, "show-status.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := ParseStatus(lines)
	want := Status{
		Version:             "2.0.12",
		RouterID:            netip.MustParseAddr("10.123.0.1"),
		Hostname:            "vm",
		ServerTime:          "2026-11-22 20:04:51.772",
		LastReboot:          "2026-11-22 20:02:58.622",
		LastReconfiguration: "2026-11-22 20:04:08.048",
		Message:             "Daemon is up and running",
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if up, ok := got.Uptime(); !ok || up.String() != "1m53.15s" {
		t.Errorf("Uptime = %v, %v; want 1m53.15s", up, ok)
	}
}
