package calicoctl

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/gocalico/calico/internal/bgp/birdctl"
)

// nodeStatusReport is what `calicoctl node status` shows; its JSON form
// is the -o json output.
type nodeStatusReport struct {
	Running bool      `json:"running"`
	IPv4    []peerRow `json:"ipv4"`
	IPv6    []peerRow `json:"ipv6"`
	Error   string    `json:"error,omitempty"`
}

// peerRow is one BGP session.
type peerRow struct {
	PeerAddress string `json:"peerAddress"`
	PeerType    string `json:"peerType"`
	State       string `json:"state"`
	Since       string `json:"since"`
	Info        string `json:"info"`

	addr netip.Addr
}

// Peer types by BIRD protocol name prefix, as upstream's BIRD templates
// name the protocols.
var peerTypes = []struct{ prefix, name string }{
	{"Mesh_", "node-to-node mesh"},
	{"Node_", "node specific"},
	{"Global_", "global"},
}

// peerStatus picks BIRD's BGP protocols to Calico peers, split by family
// and sorted by address.
func peerStatus(ps []birdctl.Protocol) nodeStatusReport {
	r := nodeStatusReport{Running: true, IPv4: []peerRow{}, IPv6: []peerRow{}}
	for _, p := range ps {
		if !p.IsBGP() {
			continue
		}
		row, ok := peerFromProtocol(p)
		if !ok {
			continue
		}
		if row.addr.Is4() {
			r.IPv4 = append(r.IPv4, row)
		} else {
			r.IPv6 = append(r.IPv6, row)
		}
	}
	for _, rows := range [][]peerRow{r.IPv4, r.IPv6} {
		slices.SortStableFunc(rows, func(x, y peerRow) int { return x.addr.Compare(y.addr) })
	}
	return r
}

func peerFromProtocol(p birdctl.Protocol) (peerRow, bool) {
	for _, pt := range peerTypes {
		rest, ok := strings.CutPrefix(p.Name, pt.prefix)
		if !ok {
			continue
		}
		addr := p.Neighbor.WithZone("").Unmap()
		if !addr.IsValid() {
			if addr, ok = addrFromName(rest); !ok {
				return peerRow{}, false
			}
		}
		return peerRow{
			PeerAddress: addr.String(),
			PeerType:    pt.name,
			State:       p.State,
			Since:       p.Since,
			Info:        p.Info,
			addr:        addr,
		}, true
	}
	return peerRow{}, false
}

// addrFromName decodes the address in a protocol name: "10_99_0_2" or
// "fd00__2" (dots or colons written as underscores).
func addrFromName(s string) (netip.Addr, bool) {
	for _, sep := range []string{".", ":"} {
		if a, err := netip.ParseAddr(strings.ReplaceAll(s, "_", sep)); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// printNodeStatus prints r as upstream calicoctl does.
func printNodeStatus(w io.Writer, r nodeStatusReport) {
	if !r.Running {
		fmt.Fprintln(w, "Calico process is not running.")
		return
	}
	fmt.Fprintln(w, "Calico process is running.")
	for _, fam := range []struct {
		name string
		rows []peerRow
	}{{"IPv4", r.IPv4}, {"IPv6", r.IPv6}} {
		fmt.Fprintf(w, "\n%s BGP status\n", fam.name)
		if len(fam.rows) == 0 {
			fmt.Fprintf(w, "No %s peers found.\n", fam.name)
			continue
		}
		cells := [][]string{{"PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"}}
		for _, p := range fam.rows {
			cells = append(cells, []string{p.PeerAddress, p.PeerType, p.State, p.Since, p.Info})
		}
		printBoxTable(w, cells)
	}
}

// printBoxTable prints rows in a boxed table, the first row as a centred
// heading, the others left-aligned.
func printBoxTable(w io.Writer, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	var rule strings.Builder
	rule.WriteString("+")
	for _, wd := range widths {
		rule.WriteString(strings.Repeat("-", wd+2) + "+")
	}
	line := func(row []string, centre bool) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range row {
			pad := widths[i] - len(c)
			left := 0
			if centre {
				left = pad / 2
			}
			b.WriteString(" " + strings.Repeat(" ", left) + c + strings.Repeat(" ", pad-left) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintln(w, rule.String())
	line(rows[0], true)
	fmt.Fprintln(w, rule.String())
	for _, row := range rows[1:] {
		line(row, false)
	}
	fmt.Fprintln(w, rule.String())
}
