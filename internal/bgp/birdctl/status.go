package birdctl

import (
	"context"
	"net/netip"
	"strings"
	"time"
)

// Status is the reply of `show status`. Times are as BIRD prints them
// (its "timeformat base"); the parsed values are zero when the format is
// not the default ISO one.
type Status struct {
	Version             string // "2.0.12"
	RouterID            netip.Addr
	Hostname            string
	ServerTime          string
	LastReboot          string
	LastReconfiguration string
	// Message is the final line: "Daemon is up and running",
	// "Reconfiguration in progress", "Shutdown in progress".
	Message string
}

// Uptime is ServerTime minus LastReboot, when both parse.
func (s Status) Uptime() (time.Duration, bool) {
	now, ok1 := parseBirdTime(s.ServerTime)
	boot, ok2 := parseBirdTime(s.LastReboot)
	if !ok1 || !ok2 {
		return 0, false
	}
	return now.Sub(boot), true
}

func parseBirdTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Status runs `show status`.
func (c *Client) Status(ctx context.Context) (Status, error) {
	lines, err := c.Command(ctx, "show status")
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(lines), nil
}

// ParseStatus parses the reply of `show status`; unknown lines are
// ignored.
func ParseStatus(lines []Line) Status {
	var s Status
	for _, l := range lines {
		t := strings.TrimSpace(l.Text)
		switch {
		case l.Code == 1000:
			s.Version = strings.TrimPrefix(t, "BIRD ")
		case l.Code == 13:
			s.Message = t
		case strings.HasPrefix(t, "Router ID is "):
			s.RouterID, _ = netip.ParseAddr(strings.TrimPrefix(t, "Router ID is "))
		case strings.HasPrefix(t, "Hostname is "):
			s.Hostname = strings.TrimPrefix(t, "Hostname is ")
		case strings.HasPrefix(t, "Current server time is "):
			s.ServerTime = strings.TrimPrefix(t, "Current server time is ")
		case strings.HasPrefix(t, "Last reboot on "):
			s.LastReboot = strings.TrimPrefix(t, "Last reboot on ")
		case strings.HasPrefix(t, "Last reconfiguration on "):
			s.LastReconfiguration = strings.TrimPrefix(t, "Last reconfiguration on ")
		}
	}
	return s
}
