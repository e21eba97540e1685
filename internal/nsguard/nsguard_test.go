package nsguard

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/gocalico/calico/internal/testenv"
)

// TestPrivilegedNamed: a namespace under /run/netns is named; a new
// namespace that nobody named is not.
func TestPrivilegedNamed(t *testing.T) {
	testenv.RequireRoot(t, "creates network namespaces")
	testenv.RequireTools(t, "ip")
	name := fmt.Sprintf("nsguard-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if ok, err := Named("/run/netns/" + name); err != nil || !ok {
		t.Errorf("Named(/run/netns/%s) = %v, %v; want true", name, ok, err)
	}

	done := make(chan struct{})
	var ok bool
	var err error
	go func() {
		defer close(done)
		// This thread ends in the new namespace: never unlocked, so the
		// runtime discards it with the goroutine.
		runtime.LockOSThread()
		ns, nerr := netns.New()
		if nerr != nil {
			err = nerr
			return
		}
		defer ns.Close()
		ok, err = Named("/proc/thread-self/ns/net")
	}()
	<-done
	if err != nil || ok {
		t.Errorf("a new unnamed namespace: Named = %v, %v; want false", ok, err)
	}
	if _, err := Named("/nonexistent"); err == nil {
		t.Error("Named of a missing file: no error")
	}
}
