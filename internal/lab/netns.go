package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gocalico/calico/internal/nsthread"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

func namespacePath(name string) string { return filepath.Join(netnsDir, name) }

// listNamespaces returns the names of the named network namespaces.
func listNamespaces() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}

func namespaceExists(name string) bool {
	_, err := os.Stat(namespacePath(name))
	return err == nil
}

// createNamespace makes a named network namespace with `ip netns add`
// (which also sets up the /run/netns mount the way every other tool
// expects), brings its loopback up and turns IPv6 duplicate address
// detection off, so addresses are usable at once.
func createNamespace(ctx context.Context, name string) error {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	h, err := handle(name)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("namespace %s: lo: %w", name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("namespace %s: lo up: %w", name, err)
	}
	return setSysctls(name, map[string]string{
		"net/ipv6/conf/all/accept_dad":     "0",
		"net/ipv6/conf/default/accept_dad": "0",
	})
}

// deleteNamespace removes a named namespace (unmount and remove the
// file). Already gone is success. The namespace itself ends when its last
// process and reference go.
func deleteNamespace(name string) error {
	p := namespacePath(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete namespace %s: unmount: %w", name, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// handle returns a netlink handle bound to the named namespace. Its
// socket is opened on a thread inside the namespace (see inNamespace), so
// no thread of this process is ever switched back and forth.
func handle(name string) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := inNamespace(name, func() error {
		var err error
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: netlink: %w", name, err)
	}
	return h, nil
}

// inNamespace runs fn on a thread that has joined the named namespace.
// The thread is never handed back to the Go scheduler: it ends with its
// goroutine, so no other code can ever run in the lab namespace by
// accident, and the caller's thread never leaves the root namespace.
func inNamespace(name string, fn func() error) error {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	defer ns.Close()
	t, err := nsthread.Start(ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	defer t.Stop()
	return t.Do(fn)
}

// setSysctls writes /proc/sys/<key> = value inside the named namespace.
func setSysctls(name string, kv map[string]string) error {
	return inNamespace(name, func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0); err != nil {
				return fmt.Errorf("namespace %s: sysctl %s=%s: %w", name, strings.ReplaceAll(k, "/", "."), v, err)
			}
		}
		return nil
	})
}

// pidsInNamespace returns the processes whose network namespace is the
// named one (as `ip netns pids` does), never this process itself.
func pidsInNamespace(name string) ([]int, error) {
	var want syscall.Stat_t
	if err := syscall.Stat(namespacePath(name), &want); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 1 {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat("/proc/"+e.Name()+"/ns/net", &st); err != nil {
			continue // gone, or a kernel thread
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			out = append(out, pid)
		}
	}
	return out, nil
}
