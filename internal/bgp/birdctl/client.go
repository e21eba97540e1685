// Package birdctl is a client for BIRD 2's control socket, the line-based
// protocol birdc speaks: one command per line, replies of 4-digit coded
// lines ending with a line whose code is followed by a space.
package birdctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Client is one connection to BIRD's control socket. Commands are sent
// one at a time; a Client is safe for use by several goroutines. After an
// I/O error or a cancelled context the reply stream is out of step, so
// the Client closes itself and every later call fails: dial again.
type Client struct {
	path string

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	broken error
}

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("bird control connection closed")

// Dial connects to the control socket at socketPath and reads BIRD's
// welcome banner (code 0001).
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("bird control socket %s: %w", socketPath, err)
	}
	c := &Client{path: socketPath, conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}
	lines, err := c.exchange(ctx, "")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bird control socket %s: reading welcome: %w", socketPath, err)
	}
	if last := lines[len(lines)-1]; last.Code != 1 {
		c.Close()
		return nil, fmt.Errorf("bird control socket %s: unexpected welcome %04d %q", socketPath, last.Code, last.Text)
	}
	return c, nil
}

// Command sends cmd (one line, as typed at birdc's prompt) and returns the
// reply's lines, the final one included. When BIRD answers with an error
// code (8xxx, 9xxx) the lines come with a *ReplyError.
func (c *Client) Command(ctx context.Context, cmd string) ([]Line, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return nil, fmt.Errorf("bird command %q: contains a line break", clip(cmd))
	}
	if strings.TrimSpace(cmd) == "" {
		return nil, errors.New("bird command: empty")
	}
	return c.exchange(ctx, cmd)
}

// exchange writes cmd (none when "") and reads one reply, bounded by ctx.
func (c *Client) exchange(ctx context.Context, cmd string) ([]Line, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	if err := c.conn.SetDeadline(dl); err != nil {
		return nil, c.fail(err)
	}
	// A cancelled context interrupts a blocked read or write.
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted // let it finish before the next exchange
		}
	}()

	if cmd != "" {
		if _, err := c.conn.Write([]byte(cmd + "\n")); err != nil {
			return nil, c.fail(c.ctxErr(ctx, err))
		}
	}
	lines, err := readReply(c.r)
	var re *ReplyError
	if err != nil && !errors.As(err, &re) {
		return lines, c.fail(c.ctxErr(ctx, err))
	}
	return lines, err
}

// ctxErr prefers the context's error to the timeout it caused.
func (c *Client) ctxErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	// The socket deadline is the context's and may fire a moment before
	// the context's own timer.
	if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// fail closes the connection for good; c.mu is held.
func (c *Client) fail(err error) error {
	err = fmt.Errorf("bird control socket %s: %w", c.path, err)
	c.broken = err
	c.conn.Close()
	return err
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = ErrClosed
		return c.conn.Close()
	}
	return nil
}
