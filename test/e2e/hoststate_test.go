package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Route protocols of the routes a host's dataplane is made of: the
// agent's (deviceRouteProtocol, 80 in the lab) and BIRD's.
const (
	protoAgent = 80
	protoBIRD  = unix.RTPROT_BIRD
)

// hostState is what a host's dataplane looks like at one moment, to
// compare before, during and after something that must not change it.
type hostState struct {
	// AgentRoutes and BIRDRoutes are the main table's routes of the
	// agent's and of BIRD's protocol: "10.65.2.1/32 via 10.99.0.2 dev eth0".
	AgentRoutes, BIRDRoutes []string
	// Table is `nft list table inet calico` without the rules' counters.
	Table string
	// NftGen is the namespace's nftables generation: it goes up with
	// every nftables transaction, even one that writes the same rules.
	NftGen uint32
	// KernelWrites is calico_agent_kernel_writes_total over every op.
	KernelWrites float64
}

var counterRE = regexp.MustCompile(`counter packets [0-9]+ bytes [0-9]+`)

// hostState reads host's dataplane and the agent's write counter.
func (l *testLab) hostState(host string) hostState {
	l.t.Helper()
	var st hostState
	st.AgentRoutes, st.BIRDRoutes = l.protoRoutes(host)
	st.Table = counterRE.ReplaceAllString(l.exec(host, "nft", "list", "table", "inet", "calico"), "counter")
	st.NftGen = l.nftGen(host)
	m, err := l.agentMetrics(host)
	if err != nil {
		l.t.Fatalf("%s: %v", host, err)
	}
	st.KernelWrites = m["calico_agent_kernel_writes_total"]
	return st
}

// protoRoutes lists host's main-table routes of the agent's protocol and
// of BIRD's, sorted.
func (l *testLab) protoRoutes(host string) (agent, bird []string) {
	l.t.Helper()
	h, err := l.Handle(host)
	if err != nil {
		l.t.Fatal(err)
	}
	defer h.Close()
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		l.t.Fatalf("%s: route list: %v", host, err)
	}
	names := map[int]string{}
	links, err := h.LinkList()
	if err != nil {
		l.t.Fatalf("%s: link list: %v", host, err)
	}
	for _, link := range links {
		names[link.Attrs().Index] = link.Attrs().Name
	}
	for _, r := range rs {
		switch r.Protocol {
		case protoAgent:
			agent = append(agent, routeString(r, names))
		case protoBIRD:
			bird = append(bird, routeString(r, names))
		}
	}
	sort.Strings(agent)
	sort.Strings(bird)
	return agent, bird
}

func routeString(r netlink.Route, names map[int]string) string {
	s := fmt.Sprint(r.Dst)
	if r.Type != unix.RTN_UNICAST {
		s = fmt.Sprintf("type %d %s", r.Type, s)
	}
	if r.Gw != nil {
		s += " via " + r.Gw.String()
	}
	for _, nh := range r.MultiPath {
		s += fmt.Sprintf(" nexthop via %s dev %s", nh.Gw, names[nh.LinkIndex])
	}
	if r.LinkIndex > 0 {
		s += " dev " + names[r.LinkIndex]
	}
	return s
}

// nftGen asks the kernel for host's nftables generation (NFT_MSG_GETGEN
// on a netfilter netlink socket made inside the host's namespace).
func (l *testLab) nftGen(host string) uint32 {
	l.t.Helper()
	var fd int
	if err := l.Run(host, func() (err error) {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		return err
	}); err != nil {
		l.t.Fatalf("%s: netfilter netlink socket: %v", host, err)
	}
	defer unix.Close(fd)
	// nlmsghdr, then nfgenmsg (family unspecified, version 0, res_id 0).
	req := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETGEN)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:], 1)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		l.t.Fatalf("%s: NFT_MSG_GETGEN: %v", host, err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		l.t.Fatalf("%s: NFT_MSG_GETGEN answer: %v", host, err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		l.t.Fatalf("%s: NFT_MSG_GETGEN answer: %v", host, err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN || len(m.Data) < 4 {
			continue
		}
		attrs := m.Data[4:] // after nfgenmsg
		for len(attrs) >= unix.SizeofNlAttr {
			alen := int(binary.NativeEndian.Uint16(attrs[0:]))
			atype := binary.NativeEndian.Uint16(attrs[2:]) &^ unix.NLA_F_NESTED
			if alen < unix.SizeofNlAttr || alen > len(attrs) {
				break
			}
			if atype == unix.NFTA_GEN_ID && alen >= unix.SizeofNlAttr+4 {
				return binary.BigEndian.Uint32(attrs[unix.SizeofNlAttr:])
			}
			attrs = attrs[(alen+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1):]
		}
	}
	l.t.Fatalf("%s: NFT_MSG_GETGEN: no generation in the answer (%d messages)", host, len(msgs))
	return 0
}

// agentURL is where host's agent serves health and metrics (the
// default: loopback in the host's namespace).
const agentURL = "http://127.0.0.1:9099"

func (l *testLab) agentGet(host, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agentURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := l.HTTPClient(host).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// agentMetrics scrapes host's agent: each metric name with the sum of
// its samples over every label set.
func (l *testLab) agentMetrics(host string) (map[string]float64, error) {
	code, body, err := l.agentGet(host, "/metrics")
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: status %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}

// readiness is host's /readiness?verbose answer: every component.
type readiness struct {
	Code       int    `json:"-"`
	Status     string `json:"status"`
	Components []struct {
		Name       string    `json:"name"`
		Ready      bool      `json:"ready"`
		Degraded   bool      `json:"degraded"`
		Detail     string    `json:"detail"`
		LastReport time.Time `json:"lastReport"`
	} `json:"components"`
}

func (l *testLab) readiness(host string) (readiness, error) {
	code, body, err := l.agentGet(host, "/readiness?verbose")
	if err != nil {
		return readiness{}, err
	}
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		return readiness{}, fmt.Errorf("/readiness: %w: %s", err, body)
	}
	r.Code = code
	return r, nil
}

// datastoreHealth says what host's health says of the datastore in a
// report made after since: reported unreachable (the probe answering 200
// "degraded"), reported reachable (the probe answering 200 "ok"), or
// neither yet; and the whole answer.
func (l *testLab) datastoreHealth(host string, since time.Time) (unreachable, reachable bool, why string) {
	r, err := l.readiness(host)
	if err != nil {
		return false, false, err.Error()
	}
	why = fmt.Sprintf("%d %s", r.Code, r.Status)
	for _, c := range r.Components {
		why += fmt.Sprintf("; %s ready=%v degraded=%v %s", c.Name, c.Ready, c.Degraded, c.Detail)
		if c.Name != "datastore" || r.Code != http.StatusOK || c.LastReport.Before(since) {
			continue
		}
		unreachable = c.Degraded && r.Status == "degraded" && strings.HasPrefix(c.Detail, "unreachable since ")
		reachable = !c.Degraded && r.Status == "ok"
	}
	return unreachable, reachable, why
}

// routeMonitor records every change of the agent's and BIRD's routes in
// a host's main table, from netlink notifications.
type routeMonitor struct {
	host string
	done chan struct{}
	mu   sync.Mutex
	seen []string
	err  error
}

// monitorRoutes starts recording host's route changes until the test
// ends.
func (l *testLab) monitorRoutes(host string) *routeMonitor {
	l.t.Helper()
	h, ok := l.Host(host)
	if !ok {
		l.t.Fatalf("no host %s", host)
	}
	ns, err := netns.GetFromName(h.Namespace)
	if err != nil {
		l.t.Fatal(err)
	}
	defer ns.Close()
	m := &routeMonitor{host: host, done: make(chan struct{})}
	ch := make(chan netlink.RouteUpdate, 256)
	if err := netlink.RouteSubscribeWithOptions(ch, m.done, netlink.RouteSubscribeOptions{
		Namespace:     &ns,
		ErrorCallback: func(err error) { m.mu.Lock(); m.err = err; m.mu.Unlock() },
	}); err != nil {
		l.t.Fatalf("%s: route subscribe: %v", host, err)
	}
	l.t.Cleanup(func() { close(m.done) })
	go func() {
		for u := range ch {
			if u.Table != unix.RT_TABLE_MAIN || (u.Protocol != protoAgent && u.Protocol != protoBIRD) {
				continue
			}
			what := "added/replaced"
			if u.Type == unix.RTM_DELROUTE {
				what = "deleted"
			}
			m.mu.Lock()
			m.seen = append(m.seen, fmt.Sprintf("%s %s: %s proto %d", time.Now().Format("15:04:05.000"), what, u.Dst, u.Protocol))
			m.mu.Unlock()
		}
	}()
	return m
}

// changes returns what was recorded so far, and the monitor's error.
func (m *routeMonitor) changes() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.seen...), m.err
}
