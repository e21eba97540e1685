package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v3 "github.com/gocalico/calico/api/v3"
)

// rtprotBIRD marks the routes BIRD programs (RTPROT_BIRD).
const rtprotBIRD = 12

// readyPoll is how often Up looks at the hosts while it waits for the
// lab to be ready; readyReport how often it says how far it got.
const (
	readyPoll   = 250 * time.Millisecond
	readyReport = 10 * time.Second
)

// HTTPClient returns an HTTP client whose connections are made inside
// target's namespace (see Namespace): http://127.0.0.1:9099/readiness
// through it is a host's agent's health.
func (l *Lab) HTTPClient(target string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := l.Run(target, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}
}

// healthURL is where the agents serve /readiness as the lab's
// FelixConfiguration sets it, or "" when it turns health off.
func healthURL(fc *v3.FelixConfigurationSpec) string {
	host, port := "127.0.0.1", 9099
	if fc != nil {
		if fc.HealthEnabled != nil && !*fc.HealthEnabled {
			return ""
		}
		if fc.HealthHost != nil && *fc.HealthHost != "" && *fc.HealthHost != "localhost" {
			host = *fc.HealthHost
		}
		if fc.HealthPort != nil && *fc.HealthPort > 0 {
			port = *fc.HealthPort
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/readiness"
}

// hostReadiness is how far one host is.
type hostReadiness struct {
	host string
	// agent says why the agent is not ready ("" when it is).
	agent string
	// Routes to the host's own workloads through their interfaces, and
	// routes learned by BGP to other hosts' workloads: how many there
	// should be, and the addresses without one.
	local, remote               int
	localMissing, remoteMissing []string
}

func (r hostReadiness) ready() bool {
	return r.agent == "" && len(r.localMissing) == 0 && len(r.remoteMissing) == 0
}

// String says how far the host got: "host2: 3 of 4 remote workload
// routes; missing 10.65.3.1 (host3-w1)".
func (r hostReadiness) String() string {
	var parts []string
	if r.agent != "" {
		parts = append(parts, "agent not ready: "+r.agent)
	}
	if n := len(r.localMissing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d local workload routes; missing %s", r.local-n, r.local, strings.Join(r.localMissing, ", ")))
	}
	if n := len(r.remoteMissing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d remote workload routes; missing %s", r.remote-n, r.remote, strings.Join(r.remoteMissing, ", ")))
	}
	if len(parts) == 0 {
		return r.host + ": ready"
	}
	return r.host + ": " + strings.Join(parts, "; ")
}

// readiness looks at every host: its agent's /readiness (unless url is
// ""), the routes to its own workloads, and (unless bgp is false) the
// routes BIRD learned to every other host's workloads.
func (l *Lab) readiness(ctx context.Context, url string, bgp bool) []hostReadiness {
	ws := l.Workloads()
	var out []hostReadiness
	for _, h := range l.Hosts() {
		r := hostReadiness{host: h.Name}
		if url != "" {
			r.agent = l.agentReady(ctx, h.Name, url)
		}
		routes, err := l.hostRoutes(h.Name)
		if err != nil {
			r.agent = strings.TrimPrefix(r.agent+"; ", "; ") + err.Error()
			out = append(out, r)
			continue
		}
		for _, w := range ws {
			local := w.Host == h.Name
			if !local && !bgp {
				continue
			}
			for _, a := range w.Addrs() {
				missing := fmt.Sprintf("%s (%s)", a, w.Name)
				if local {
					r.local++
					if !routes.localTo(a, w.Interface) {
						r.localMissing = append(r.localMissing, missing)
					}
					continue
				}
				r.remote++
				if !routes.learned(a) {
					r.remoteMissing = append(r.remoteMissing, missing)
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// agentReady asks host's agent for /readiness: "" when it answers 200,
// else why not.
func (l *Lab) agentReady(ctx context.Context, host, url string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := l.HTTPClient(host).Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Sprintf("%s %s", resp.Status, strings.Join(strings.Fields(string(body)), " "))
}

// routeTable is a host's main routing table.
type routeTable struct {
	routes []netlink.Route
	links  map[int]string
}

func (l *Lab) hostRoutes(host string) (routeTable, error) {
	h, err := l.Handle(host)
	if err != nil {
		return routeTable{}, err
	}
	defer h.Close()
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return routeTable{}, fmt.Errorf("%s: route list: %w", host, err)
	}
	links, err := h.LinkList()
	if err != nil {
		return routeTable{}, fmt.Errorf("%s: link list: %w", host, err)
	}
	t := routeTable{routes: rs, links: map[int]string{}}
	for _, link := range links {
		t.links[link.Attrs().Index] = link.Attrs().Name
	}
	return t, nil
}

// localTo: a route to exactly a through the interface iface.
func (t routeTable) localTo(a netip.Addr, iface string) bool {
	for _, r := range t.routes {
		if r.Dst == nil || t.links[r.LinkIndex] != iface {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.IsSingleIP() && p.Addr() == a {
			return true
		}
	}
	return false
}

// learned: a unicast route BIRD programmed covering a.
func (t routeTable) learned(a netip.Addr) bool {
	for _, r := range t.routes {
		if r.Dst == nil || r.Protocol != rtprotBIRD || r.Type != unix.RTN_UNICAST {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Contains(a) {
			return true
		}
	}
	return false
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}

// waitReady waits until every host is ready (see readiness), polling,
// at most timeout; it reports how far the hosts are every readyReport,
// and when it gives up says what is missing.
func (l *Lab) waitReady(ctx context.Context, timeout time.Duration, fc *v3.FelixConfigurationSpec) error {
	url := healthURL(fc)
	bgp := l.BGPMode() != BGPNone
	var what []string
	if url != "" {
		what = append(what, "every agent ready")
	}
	what = append(what, "every host routing to its own workloads")
	if bgp {
		what = append(what, "every host with BGP routes to every other host's workloads")
	}
	l.step("waiting until the lab is ready: %s (at most %v)", strings.Join(what, ", "), timeout)
	if !bgp && len(l.Hosts()) > 1 {
		l.step("bgp none: the hosts learn no routes from each other, so workloads on different hosts do not reach each other; nothing to wait for across hosts")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lastReport := start
	for {
		rs := l.readiness(ctx, url, bgp)
		var notReady []string
		for _, r := range rs {
			if !r.ready() {
				notReady = append(notReady, r.String())
			}
		}
		if len(notReady) == 0 {
			l.step("ready after %v", time.Since(start).Round(10*time.Millisecond))
			return nil
		}
		if time.Since(lastReport) >= readyReport {
			lastReport = time.Now()
			l.step("still waiting (%v): %s", time.Since(start).Round(time.Second), strings.Join(notReady, "; "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab %s not ready after %v (--ready-timeout): %s",
				l.st.Name, timeout, strings.Join(notReady, "; "))
		case <-time.After(readyPoll):
		}
	}
}
