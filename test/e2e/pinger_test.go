package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"
)

// pinger sends ICMP echo requests from inside a workload's namespace at a
// steady rate and counts every answer by sequence number, so that a
// single lost packet shows, and where in the run it was.
type pinger struct {
	from string
	dst  netip.Addr
	conn net.PacketConn
	id   uint16

	mu       sync.Mutex
	sent     []time.Time // by sequence number
	answered map[int]bool
	closing  bool
	readErr  error

	stopSend chan struct{}
	sending  sync.WaitGroup
	reading  sync.WaitGroup
}

// startPinger starts pinging dst from target every interval until stop.
// The socket is made inside target's namespace (a raw ICMP socket, on a
// thread that entered it) and keeps it, so nothing runs in the root
// namespace.
func (l *testLab) startPinger(target string, dst netip.Addr, interval time.Duration) *pinger {
	l.t.Helper()
	network := "ip4:icmp"
	if dst.Is6() {
		network = "ip6:ipv6-icmp"
	}
	var conn net.PacketConn
	if err := l.Run(target, func() (err error) {
		conn, err = net.ListenPacket(network, "")
		return err
	}); err != nil {
		l.t.Fatalf("%s: icmp socket: %v", target, err)
	}
	p := &pinger{
		from: target, dst: dst, conn: conn,
		// Replies come to every raw socket of the namespace: ours carry
		// this identifier.
		id:       uint16(os.Getpid()) ^ uint16(time.Now().UnixNano()),
		answered: map[int]bool{},
		stopSend: make(chan struct{}),
	}
	p.reading.Add(1)
	go p.read()
	p.sending.Add(1)
	go p.send(interval)
	l.t.Cleanup(func() { p.stop(0) })
	return p
}

func (p *pinger) send(interval time.Duration) {
	defer p.sending.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	addr := &net.IPAddr{IP: net.IP(p.dst.AsSlice())}
	for {
		p.mu.Lock()
		seq := len(p.sent)
		p.sent = append(p.sent, time.Now())
		p.mu.Unlock()
		// A failed send is a lost packet: it gets no answer.
		_, _ = p.conn.WriteTo(echoRequest(p.dst.Is6(), p.id, uint16(seq)), addr)
		select {
		case <-p.stopSend:
			return
		case <-t.C:
		}
	}
}

func (p *pinger) read() {
	defer p.reading.Done()
	buf := make([]byte, 1500)
	reply := byte(0)
	if p.dst.Is6() {
		reply = 129
	}
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			p.mu.Lock()
			if !p.closing {
				p.readErr = err
			}
			p.mu.Unlock()
			return
		}
		ip, ok := from.(*net.IPAddr)
		if !ok || n < 8 || buf[0] != reply || binary.BigEndian.Uint16(buf[4:]) != p.id {
			continue
		}
		if a, ok := netip.AddrFromSlice(ip.IP); !ok || a.Unmap() != p.dst {
			continue
		}
		seq := int(binary.BigEndian.Uint16(buf[6:]))
		p.mu.Lock()
		// Sequence numbers wrap at 65536 (an hour at 20/s): the
		// newest request with this number.
		for s := len(p.sent) - 1; s >= 0; s-- {
			if s&0xffff == seq {
				p.answered[s] = true
				break
			}
		}
		p.mu.Unlock()
	}
}

// counts returns how many requests were sent and answered so far.
func (p *pinger) counts() (sent, answered int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent), len(p.answered)
}

// pingResult is a stopped pinger's account.
type pingResult struct {
	sent, answered int
	// lost are the times the unanswered requests were sent.
	lost []time.Time
	err  error
}

func (r pingResult) String() string {
	s := fmt.Sprintf("%d sent, %d answered", r.sent, r.answered)
	if len(r.lost) > 0 {
		s += fmt.Sprintf("; %d lost, the first sent %s, the last %s", len(r.lost),
			r.lost[0].Format("15:04:05.000"), r.lost[len(r.lost)-1].Format("15:04:05.000"))
	}
	if r.err != nil {
		s += fmt.Sprintf("; read error %v", r.err)
	}
	return s
}

// stop stops sending, waits up to grace for the answers to requests
// still in flight, and accounts for every request.
func (p *pinger) stop(grace time.Duration) pingResult {
	select {
	case <-p.stopSend:
	default:
		close(p.stopSend)
	}
	p.sending.Wait()
	deadline := time.Now().Add(grace)
	for {
		sent, answered := p.counts()
		if answered == sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.conn.Close()
	p.reading.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := pingResult{sent: len(p.sent), answered: len(p.answered), err: p.readErr}
	for s, at := range p.sent {
		if !p.answered[s] {
			r.lost = append(r.lost, at)
		}
	}
	sort.Slice(r.lost, func(i, j int) bool { return r.lost[i].Before(r.lost[j]) })
	return r
}

// echoRequest builds an ICMP (ICMPv6) echo request. For ICMPv6 the
// kernel fills in the checksum.
func echoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, 8+16)
	b[0] = 8
	if v6 {
		b[0] = 128
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "calico-e2e-ping.")
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], icmpChecksum(b))
	}
	return b
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
