// Package nsthread runs code inside a network namespace on an OS thread
// dedicated to it, never on the process's main thread.
//
// A thread that entered another namespace is never handed back to the Go
// scheduler: its goroutine stays locked to it, and when the goroutine
// ends the runtime ends the thread with it. The main thread is never
// switched, because the runtime cannot end it and /proc/self describes
// it. So no other goroutine ever runs in a namespace it did not ask for.
package nsthread

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Thread is one OS thread inside a network namespace, running the
// functions given to Do one at a time.
type Thread struct {
	reqs chan func()
	done chan struct{}
}

// Start enters ns on a new dedicated thread. ns may be closed once Start
// returns.
func Start(ns netns.NsHandle) (*Thread, error) {
	t := &Thread{reqs: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			t.serve(ns, started)
			return
		}
		// The main thread: keep it locked here while a new goroutine
		// takes another thread, then give it back unswitched.
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
// Stop. It never unlocks the thread.
func (t *Thread) serve(ns netns.NsHandle, started chan<- error) {
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

// Do runs f on the thread and waits for it.
func (t *Thread) Do(f func() error) error {
	errc := make(chan error, 1)
	t.reqs <- func() { errc <- f() }
	return <-errc
}

// Stop ends the thread (and, with it, its OS thread).
func (t *Thread) Stop() {
	close(t.reqs)
	<-t.done
}

// Run runs f once inside ns on a dedicated thread.
func Run(ns netns.NsHandle, f func() error) error {
	t, err := Start(ns)
	if err != nil {
		return err
	}
	defer t.Stop()
	return t.Do(f)
}
