package birdctl

import (
	"context"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Protocol is one protocol of `show protocols all`. Fields BIRD did not
// print are left zero.
type Protocol struct {
	Name  string // "Mesh_10_99_0_2"
	Proto string // "BGP", "Device", "Kernel", "Static", ...
	Table string // "master4", or "---" (BGP in BIRD 2)
	State string // "up", "down", "start", "stop"
	Since string // as BIRD prints it (its "timeformat protocol")
	Info  string // "Established", "Active Socket: Connection refused", ...

	// BGP only.
	BGPState   string     // "Established", "Active", "Connect", "Idle", "Down", ...
	Neighbor   netip.Addr // neighbor address
	NeighborAS uint32
	LocalAS    uint32
	NeighborID string
	SourceAddr netip.Addr
	LastError  string
	Channels   []Channel
}

// Channel is one channel (address family) of a protocol.
type Channel struct {
	Name  string // "ipv4", "ipv6"
	State string // "UP", "DOWN"
	Table string
	// Routes is nil when BIRD printed no route counts (channel down).
	Routes *RouteCounts
}

// RouteCounts is a channel's "Routes:" line.
type RouteCounts struct {
	Imported, Filtered, Exported, Preferred int
}

// IsBGP reports whether p is a BGP protocol.
func (p Protocol) IsBGP() bool { return p.Proto == "BGP" }

// Routes sums the route counts of p's channels; ok is false when no
// channel printed any.
func (p Protocol) Routes() (imported, exported int, ok bool) {
	for _, ch := range p.Channels {
		if ch.Routes != nil {
			imported += ch.Routes.Imported
			exported += ch.Routes.Exported
			ok = true
		}
	}
	return imported, exported, ok
}

// Protocols runs `show protocols all` and parses its reply.
func (c *Client) Protocols(ctx context.Context) ([]Protocol, error) {
	lines, err := c.Command(ctx, "show protocols all")
	if err != nil {
		return nil, err
	}
	return ParseProtocols(lines), nil
}

// Reply codes of `show protocols [all]`.
const (
	codeProtoHeading = 2002
	codeProtoLine    = 1002
	codeProtoDetail  = 1006
)

var (
	datePat = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	timePat = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}`)
)

// ParseProtocols parses the reply of `show protocols` or `show protocols
// all`. Lines it does not understand are ignored.
func ParseProtocols(lines []Line) []Protocol {
	var out []Protocol
	var cur *Protocol
	var ch *Channel
	for _, l := range lines {
		switch l.Code {
		case codeProtoLine:
			p, ok := parseProtoLine(l.Text)
			if !ok {
				cur, ch = nil, nil
				continue
			}
			out = append(out, p)
			cur, ch = &out[len(out)-1], nil
		case codeProtoDetail:
			if cur == nil {
				continue
			}
			ch = parseDetail(cur, ch, l.Text)
		}
	}
	return out
}

// parseProtoLine parses "Name Proto Table State Since Info...". Since is
// one word or, with an ISO long time format, a date and a time.
func parseProtoLine(s string) (Protocol, bool) {
	f := strings.Fields(s)
	if len(f) < 5 {
		return Protocol{}, false
	}
	p := Protocol{Name: f[0], Proto: f[1], Table: f[2], State: f[3], Since: f[4]}
	rest := f[5:]
	if datePat.MatchString(f[4]) && len(rest) > 0 && timePat.MatchString(rest[0]) {
		p.Since += " " + rest[0]
		rest = rest[1:]
	}
	p.Info = strings.Join(rest, " ")
	if p.IsBGP() && len(rest) > 0 {
		p.BGPState = rest[0]
	}
	return p, true
}

// parseDetail applies one detail line to p and returns the channel the
// following lines belong to.
func parseDetail(p *Protocol, ch *Channel, s string) *Channel {
	t := strings.TrimSpace(s)
	if name, ok := strings.CutPrefix(t, "Channel "); ok {
		p.Channels = append(p.Channels, Channel{Name: strings.TrimSpace(name)})
		return &p.Channels[len(p.Channels)-1]
	}
	key, val, ok := strings.Cut(t, ":")
	if !ok {
		return ch
	}
	val = strings.TrimSpace(val)
	if ch != nil {
		switch key {
		case "State":
			ch.State = val
		case "Table":
			ch.Table = val
		case "Routes":
			ch.Routes = parseRouteCounts(val)
		}
		return ch
	}
	switch key {
	case "BGP state":
		p.BGPState = val
	case "Neighbor address":
		p.Neighbor, _ = netip.ParseAddr(val)
	case "Neighbor AS":
		p.NeighborAS = parseAS(val)
	case "Local AS":
		p.LocalAS = parseAS(val)
	case "Neighbor ID":
		p.NeighborID = val
	case "Source address":
		p.SourceAddr, _ = netip.ParseAddr(val)
	case "Last error":
		p.LastError = val
	}
	return ch
}

func parseAS(s string) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// parseRouteCounts parses "1 imported, 0 filtered, 1 exported, 1 preferred".
func parseRouteCounts(s string) *RouteCounts {
	var rc RouteCounts
	found := false
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 0 {
			continue
		}
		switch f[1] {
		case "imported":
			rc.Imported = n
		case "filtered":
			rc.Filtered = n
		case "exported":
			rc.Exported = n
		case "preferred":
			rc.Preferred = n
		default:
			continue
		}
		found = true
	}
	if !found {
		return nil
	}
	return &rc
}
