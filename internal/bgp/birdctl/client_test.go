package birdctl

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/bgp/birdctl/birdtest"
)

func captured(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dialReplay(t *testing.T, replies map[string]string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, birdtest.Replay(t, replies))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientReplay(t *testing.T) {
	c := dialReplay(t, map[string]string{
		"show protocols all": captured(t, "show-protocols-all.txt"),
		"show status":        "+0000 spontaneous printout, not part of the reply\n" + captured(t, "show-status.txt"),
	})
	ctx := context.Background()
	ps, err := c.Protocols(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 6 || ps[2].Name != "Mesh_10_123_0_2" || ps[2].BGPState != "Established" {
		t.Errorf("Protocols = %+v", ps)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "2.0.12" || st.Message != "Daemon is up and running" {
		t.Errorf("Status = %+v", st)
	}
	// A syntax error is BIRD's answer, not a broken connection.
	_, err = c.Command(ctx, "show nonsense")
	var re *ReplyError
	if !errors.As(err, &re) || re.Code != 9001 {
		t.Errorf("show nonsense: error %v, want reply code 9001", err)
	}
	if _, err := c.Status(ctx); err != nil {
		t.Errorf("Status after a syntax error: %v", err)
	}
	for _, bad := range []string{"", "  ", "show status\nshow status"} {
		if _, err := c.Command(ctx, bad); err == nil {
			t.Errorf("Command(%q): no error", bad)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := c.Status(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Status after Close: %v, want %v", err, ErrClosed)
	}
}

// TestConfigureReplies: the replies BIRD 2.0.12 gave to configure (see
// TestPrivilegedBIRDPair for the real thing).
func TestConfigureReplies(t *testing.T) {
	const reading = "0002-Reading configuration from /etc/bird.conf\n"
	c := dialReplay(t, map[string]string{
		`configure "/done.conf"`:     reading + "0003 Reconfigured\n",
		`configure "/progress.conf"`: reading + "0004 Reconfiguration in progress\n",
		`configure "/queued.conf"`:   reading + "0005 Reconfiguration already in progress, queueing new config\n",
		`configure "/shutdown.conf"`: reading + "0006 Reconfiguration ignored, shutting down\n",
		`configure "/broken.conf"`:   captured(t, "configure-broken.txt"),
		`configure "/missing.conf"`:  reading + "8002 /missing.conf: No such file or directory\n",
		`configure check "/ok.conf"`: reading + "0020 Configuration OK\n",
	})
	ctx := context.Background()
	for _, p := range []string{"/done.conf", "/progress.conf", "/queued.conf"} {
		if err := c.Configure(ctx, p); err != nil {
			t.Errorf("Configure(%s): %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"/shutdown.conf": "0006 Reconfiguration ignored",
		"/broken.conf":   "8002 /tmp/birdexp/broken.conf:3:3 syntax error",
		"/missing.conf":  "No such file or directory",
		`/a"b.conf`:      "without quotes",
		"":               "non-empty",
	} {
		err := c.Configure(ctx, p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Configure(%q) = %v, want an error containing %q", p, err, want)
		}
	}
	if err := c.CheckConfig(ctx, "/ok.conf"); err != nil {
		t.Errorf("CheckConfig: %v", err)
	}
	if err := c.CheckConfig(ctx, "/broken.conf"); err == nil {
		t.Error("CheckConfig of an unknown reply: no error")
	}
}

// TestCommandDeadline: a BIRD that never answers makes Command return the
// context's error, and the client refuses further commands.
func TestCommandDeadline(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "mute.ctl")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte(birdtest.Welcome))
		accepted <- c // never answers a command
	}()
	c, err := Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := <-accepted
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Command(ctx, "show status")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Command returned after %v", d)
	}
	if _, err := c.Command(context.Background(), "show status"); err == nil {
		t.Error("command on a connection out of step: no error")
	}

}

func TestCommandCancel(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mute.ctl")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(birdtest.Welcome))
		time.Sleep(5 * time.Second)
	}()
	c, err := Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := c.Command(ctx, "show status"); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want %v", err, context.Canceled)
	}
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "none.ctl")
	if _, err := Dial(ctx, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Dial(missing) = %v, want an error naming %s", err, missing)
	}
	// Something that is not BIRD.
	sock := filepath.Join(t.TempDir(), "other.ctl")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		c.Close()
	}()
	if _, err := Dial(ctx, sock); err == nil {
		t.Error("Dial to a non-BIRD server: no error")
	}
}
