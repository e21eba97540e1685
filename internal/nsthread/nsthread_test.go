package nsthread

import (
	"runtime"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/gocalico/calico/internal/testenv"
)

// TestPrivilegedRunEntersNamespace: f sees the other namespace, and the
// calling goroutine's namespace is unchanged afterwards.
func TestPrivilegedRunEntersNamespace(t *testing.T) {
	testenv.RequireRoot(t, "creates a network namespace")
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	other, err := netns.New() // switches this thread: switch back at once
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	runtime.UnlockOSThread()
	defer orig.Close()
	defer other.Close()

	var inside netns.NsHandle
	if err := Run(other, func() error {
		var err error
		inside, err = netns.Get()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	if !inside.Equal(other) {
		t.Errorf("f ran in %v, want %v", inside, other)
	}
	here, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	if !here.Equal(orig) {
		t.Errorf("caller's namespace changed to %v, want %v", here, orig)
	}
}
