package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// probeTimeout is how long a probe waits for its packet to arrive: a
// blocked TCP connection or UDP datagram is one that did not arrive in
// this time.
const probeTimeout = time.Second

// traffic runs TCP and UDP servers inside lab workloads' namespaces and
// sends probes to them from other namespaces. Sockets are made inside
// the namespace (on a thread that entered it) and keep it afterwards, so
// no process other than the test is needed and nothing touches the root
// namespace.
type traffic struct {
	l       *testLab
	mu      sync.Mutex
	got     map[string]bool // UDP payloads received
	closers []func()
	seq     atomic.Int64
}

// newTraffic starts servers in every named target, listening on the TCP
// and UDP ports given (dual-stack), until the test ends.
func (l *testLab) newTraffic(targets []string, tcp, udp []int) *traffic {
	l.t.Helper()
	tr := &traffic{l: l, got: map[string]bool{}}
	l.t.Cleanup(tr.close)
	for _, target := range targets {
		for _, p := range tcp {
			var ln net.Listener
			tr.inNS(target, func() (err error) {
				ln, err = net.Listen("tcp", "[::]:"+strconv.Itoa(p))
				return err
			})
			tr.closers = append(tr.closers, func() { ln.Close() })
			go serveTCP(ln)
		}
		for _, p := range udp {
			var pc net.PacketConn
			tr.inNS(target, func() (err error) {
				pc, err = net.ListenPacket("udp", "[::]:"+strconv.Itoa(p))
				return err
			})
			tr.closers = append(tr.closers, func() { pc.Close() })
			go tr.serveUDP(pc)
		}
	}
	return tr
}

func (tr *traffic) close() {
	for _, c := range tr.closers {
		c()
	}
}

// inNS runs f inside target's namespace, failing the test on an error.
func (tr *traffic) inNS(target string, f func() error) {
	tr.l.t.Helper()
	if err := tr.runIn(target, f); err != nil {
		tr.l.t.Fatalf("%s: %v", target, err)
	}
}

func (tr *traffic) runIn(target string, f func() error) error {
	return tr.l.Run(target, f)
}

// serveTCP answers every connection with one line and then echoes what
// it reads, so that a connection can be checked to still carry data.
func serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if _, err := c.Write([]byte("hello\n")); err != nil {
				return
			}
			buf := make([]byte, 512)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

func (tr *traffic) serveUDP(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		tr.mu.Lock()
		tr.got[string(buf[:n])] = true
		tr.mu.Unlock()
	}
}

// tcp reports whether a TCP connection from target to dst:port is
// established and carries the server's greeting.
func (tr *traffic) tcp(from string, dst netip.Addr, port int) (bool, error) {
	var c net.Conn
	err := tr.runIn(from, func() error {
		var err error
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(dst, uint16(port)).String(), probeTimeout)
		return err
	})
	if err != nil {
		if isBlocked(err) {
			return false, nil
		}
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(probeTimeout))
	buf := make([]byte, 6)
	if _, err := c.Read(buf); err != nil {
		return false, nil
	}
	return string(buf) == "hello\n", nil
}

// dial opens a TCP connection from target for a test that keeps it.
func (tr *traffic) dial(from string, dst netip.Addr, port int) (net.Conn, error) {
	var c net.Conn
	err := tr.runIn(from, func() error {
		var err error
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(dst, uint16(port)).String(), probeTimeout)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(probeTimeout))
	buf := make([]byte, 6)
	if _, err := c.Read(buf); err != nil || string(buf) != "hello\n" {
		c.Close()
		return nil, fmt.Errorf("no greeting: %v", err)
	}
	return c, nil
}

// echo reports whether c still carries data both ways.
func echo(c net.Conn) error {
	c.SetDeadline(time.Now().Add(probeTimeout))
	msg := []byte("ping\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := c.Read(buf); err != nil {
		return err
	}
	if string(buf) != string(msg) {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

// udp reports whether a datagram from target (from its address src when
// valid) to dst:port reaches the server.
func (tr *traffic) udp(from string, src, dst netip.Addr, port int) (bool, error) {
	payload := fmt.Sprintf("%s->%s:%d#%d", from, dst, port, tr.seq.Add(1))
	err := tr.runIn(from, func() error {
		var laddr *net.UDPAddr
		if src.IsValid() {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
		c, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(port))))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(payload))
		return err
	})
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(probeTimeout)
	for {
		tr.mu.Lock()
		ok := tr.got[payload]
		tr.mu.Unlock()
		if ok {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// icmp reports whether an echo request from target to dst is answered.
func (tr *traffic) icmp(from string, dst netip.Addr) (bool, error) {
	return tr.l.Ping(tr.l.ctx, from, dst, probeTimeout)
}

// isBlocked: a connection attempt that timed out, was refused by a
// reject or found no route: the packet did not get through.
func isBlocked(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}
