package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsThread runs functions on one OS thread that has entered a network
// namespace, so that /proc/sys/net opened there is that namespace's.
// The thread is never handed back to the Go scheduler: its goroutine
// stays locked to it, and when the goroutine ends the runtime ends the
// thread with it. No other goroutine ever runs in the namespace.
type nsThread struct {
	reqs chan func()
	done chan struct{}
}

func startNSThread(ns netns.NsHandle) (*nsThread, error) {
	t := &nsThread{reqs: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			t.serve(ns, started)
			return
		}
		// This is the process's main thread, which the runtime cannot
		// end and which /proc/self describes: never switch it. While
		// it stays locked here, a new goroutine runs on another thread.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			t.serve(ns, started)
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return t, nil
}

// serve enters ns on the current, locked thread and runs requests until
// stop. It never unlocks the thread (see the type's comment).
func (t *nsThread) serve(ns netns.NsHandle, started chan<- error) {
	defer close(t.done)
	if unix.Gettid() == unix.Getpid() {
		started <- errors.New("enter network namespace: refusing to switch the main thread")
		return
	}
	if err := netns.Set(ns); err != nil {
		started <- fmt.Errorf("enter network namespace: %w", err)
		return
	}
	started <- nil
	for f := range t.reqs {
		f()
	}
}

// do runs f on the thread and waits for it.
func (t *nsThread) do(f func() error) error {
	errc := make(chan error, 1)
	t.reqs <- func() { errc <- f() }
	return <-errc
}

func (t *nsThread) stop() {
	close(t.reqs)
	<-t.done
}

// sysctlFile maps a sysctl path such as "net/ipv4/conf/cali1/proxy_arp"
// to its file under /proc/sys, refusing paths that would leave it.
func sysctlFile(path string) (string, error) {
	if path == "" || strings.HasPrefix(path, "/") || filepath.Clean(path) != path ||
		badSegment(strings.Split(path, "/")) {
		return "", fmt.Errorf("sysctl path %q: not a clean relative path", path)
	}
	return "/proc/sys/" + path, nil
}

// badSegment reports whether any segment is empty, "." or "..".
func badSegment(segs []string) bool {
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return true
		}
	}
	return false
}

func readSysctlFile(path string) (string, error) {
	f, err := sysctlFile(path)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctlFile(path, value string) error {
	f, err := sysctlFile(path)
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(f, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := fh.WriteString(value)
	cerr := fh.Close()
	return errors.Join(werr, cerr)
}
