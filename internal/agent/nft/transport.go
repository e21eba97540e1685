package nft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// transport sends one batch of nftables messages (BATCH_BEGIN ...
// BATCH_END) as one transaction. It is the seam the tests swap: the
// messages are built by github.com/google/nftables (rules by addRule),
// marshalled onto a wire as they are queued, and sent here.
//
// Why not nftables.Conn.Flush: it asks the kernel to echo every rule back
// and cannot say which message of a batch failed, so a 10 000-rule batch
// needs a receive buffer of tens of megabytes and an error names nothing.
// Here every message is acknowledged without echo, and a failure is
// mapped back to the operation that queued the message.
type transport interface {
	// send returns the errors of individual messages by their index in
	// the batch (the kernel then applied none of it), or err when the
	// outcome is unknown. ctx bounds the wait for the kernel's answer.
	send(ctx context.Context, w *wire) (failed map[int]error, err error)
	// close releases what the transport keeps between batches.
	close() error
}

// nlTransport is the real transport: a netlink socket in the network
// namespace nsFd (0: the caller's), kept from one batch to the next.
//
// Why kept: when a netlink socket is closed after a transaction that
// deleted anything (a rule, a chain, a set element), the kernel first
// waits for what was deleted to be freed, an RCU grace period of some
// 10-20 ms; left open, the kernel frees it in the background, and a
// one-rule change takes well under a millisecond. The socket is closed,
// and a new one dialled for the next batch, whenever a batch's outcome
// is unknown, so that no reply to one batch is left for the next; and
// each batch's sequence numbers follow on from the last one's, so that
// a stray reply could not be taken for an answer anyway.
type nlTransport struct {
	nsFd    int
	timeout time.Duration

	conn *netlink.Conn
	seq  uint32 // the last sequence number used
}

func (t *nlTransport) close() error {
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}

func (t *nlTransport) send(ctx context.Context, w *wire) (map[int]error, error) {
	if t.conn == nil {
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: t.nsFd})
		if err != nil {
			return nil, fmt.Errorf("netlink dial: %w", err)
		}
		// Acks without a copy of the request; errors with the kernel's text.
		_ = c.SetOption(netlink.CapAcknowledge, true)
		_ = c.SetOption(netlink.ExtendedAcknowledge, true)
		t.conn = c
	}
	failed, err := t.exchange(ctx, w)
	if err != nil {
		_ = t.close()
	}
	return failed, err
}

func (t *nlTransport) exchange(ctx context.Context, w *wire) (map[int]error, error) {
	c := t.conn
	base := t.seq
	t.seq += uint32(w.n)
	w.setSeq(base)
	acks := 0
	w.each(func(_ int, m []byte) {
		if !isBatchMarker(msgType(m)) {
			acks++
		}
	})
	// The whole batch is one sendmsg, and all acks are queued before it
	// returns: size both buffers for the batch (the kernel doubles these).
	if err := setBuffers(c, max(w.size, 1<<20), max(acks*1024, 1<<20)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("netlink set deadline: %w", err)
	}
	if err := sendBatch(c, w); err != nil {
		return nil, fmt.Errorf("netlink send of %d messages (%d bytes): %w", w.n, w.size, err)
	}
	return receiveAcks(c, acks, w.n, base)
}

// sendBatch writes the batch with one sendmsg, which gathers its chunks
// into one buffer in the kernel: nfnetlink takes a batch only whole.
func sendBatch(c *netlink.Conn, w *wire) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink raw conn: %w", err)
	}
	to := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	var n int
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		n, serr = unix.SendmsgBuffers(int(fd), w.chunks, nil, to, 0)
		return serr != unix.EAGAIN
	})
	switch {
	case err != nil:
		return err
	case serr != nil:
		return os.NewSyscallError("sendmsg", serr)
	case n != w.size:
		return fmt.Errorf("sendmsg wrote %d bytes of %d", n, w.size)
	}
	return nil
}

func setBuffers(c *netlink.Conn, snd, rcv int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink raw conn: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		// The FORCE variants need CAP_NET_ADMIN, which nftables needs
		// anyway; they ignore net.core.[rw]mem_max.
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, snd); e != nil {
			serr = fmt.Errorf("SO_SNDBUFFORCE %d: %w", snd, e)
			return
		}
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcv); e != nil {
			serr = fmt.Errorf("SO_RCVBUFFORCE %d: %w", rcv, e)
		}
	})
	return errors.Join(err, serr)
}

// receiveAcks reads want acknowledgements straight off the socket, since
// netlink.Conn.Receive drops the sequence number of a failed message.
// The batch's sequence numbers are base+1 to base+nmsgs; any other
// message is not an answer to it.
func receiveAcks(c *netlink.Conn, want, nmsgs int, base uint32) (map[int]error, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netlink raw conn: %w", err)
	}
	var failed map[int]error
	buf := make([]byte, 1<<16)
	for got := 0; got < want; {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return failed, fmt.Errorf("netlink: %d of %d acknowledgements before the deadline: %w", got, want, err)
			}
			// ENOBUFS: acknowledgements were lost, so the outcome is
			// unknown even if the kernel committed.
			return failed, fmt.Errorf("netlink receive after %d of %d acknowledgements: %w", got, want, err)
		}
		nlmsgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return failed, fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range nlmsgs {
			idx := int64(m.Header.Seq-base) - 1
			if m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 || idx < 0 || idx >= int64(nmsgs) {
				continue
			}
			got++
			errno := int32(binary.NativeEndian.Uint32(m.Data[:4]))
			if errno == 0 {
				continue
			}
			if failed == nil {
				failed = make(map[int]error)
			}
			e := error(syscall.Errno(-errno))
			if msg := extAckMessage(m); msg != "" {
				e = fmt.Errorf("%w (%s)", e, msg)
			}
			failed[int(idx)] = e
		}
	}
	return failed, nil
}

// extAckMessage returns the kernel's NLMSGERR_ATTR_MSG text, if any.
// The attributes follow the errno and the request: its header alone when
// the kernel capped it (as asked), the whole request otherwise.
func extAckMessage(m syscall.NetlinkMessage) string {
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(m.Data) < 4+unix.SizeofNlMsghdr {
		return ""
	}
	off := 4 + unix.SizeofNlMsghdr
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 {
		reqLen := int(binary.NativeEndian.Uint32(m.Data[4:8]))
		off = 4 + (reqLen+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)
	}
	if off > len(m.Data) {
		return ""
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[off:])
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NLMSGERR_ATTR_MSG {
			return strings.TrimRight(ad.String(), "\x00")
		}
	}
	return ""
}

// capture builds messages with github.com/google/nftables without sending
// them: the Conn's test dial hands each Flush's batch to send and
// acknowledges every message back to the library. The Conn is lasting so
// that a Flush does not dial its (fake) socket again.
type capture struct {
	send func(msgs []netlink.Message)
}

func (cp *capture) conn() (*nftables.Conn, error) {
	ack := make([]byte, 4+unix.SizeofNlMsghdr)
	return nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		if req != nil {
			cp.send(req)
		}
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: ack}}, nil
	}), nftables.AsLasting())
}
