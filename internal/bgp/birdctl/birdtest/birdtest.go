// Package birdtest runs BIRD control sockets for tests: a replay server
// that answers commands with captured text, and a pair of real BIRDs in
// network namespaces of their own, joined by a veth.
package birdtest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Welcome is the banner BIRD 2.0.12 sends on connect.
const Welcome = "0001 BIRD 2.0.12 ready.\n"

// Replay serves a fake BIRD control socket that answers each command
// with replies[command] written as is (wire format: coded lines ending in
// "\n"), or with a syntax error for commands it does not know. It returns
// the socket path; the server stops when the test ends.
func Replay(t testing.TB, replies map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "birdtest")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bird.ctl")
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		os.RemoveAll(dir)
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Logf("birdtest: accept: %v", err)
				}
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveReplay(c, replies)
			}()
		}
	}()
	return path
}

func serveReplay(c net.Conn, replies map[string]string) {
	if _, err := c.Write([]byte(Welcome)); err != nil {
		return
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		cmd := strings.TrimSpace(sc.Text())
		reply, ok := replies[cmd]
		if !ok {
			reply = "9001 syntax error, unexpected CF_SYM_UNDEFINED\n"
		}
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
	}
}
