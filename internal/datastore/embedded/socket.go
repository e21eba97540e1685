package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// maxSocketPath is the longest unix socket path Linux accepts (108 bytes
// in sockaddr_un, including the terminating NUL).
const maxSocketPath = 107

// Socket and socket directory modes: the datastore socket gives full
// datastore access, so only root and the socket's group may use it.
const (
	socketMode    fs.FileMode = 0o660
	socketDirMode fs.FileMode = 0o750
)

func checkSocketPath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("socket path %q: must be absolute", p)
	}
	if len(p) > maxSocketPath {
		return fmt.Errorf("socket path %q: %d bytes, longer than the %d a unix socket allows", p, len(p), maxSocketPath)
	}
	return nil
}

// prepareSocket creates the socket's directory and removes a stale socket
// left by a previous run. It refuses to remove anything that is not a
// socket, or a socket that a live server still answers on.
func prepareSocket(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), socketDirMode); err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %s: %w", p, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %s: exists and is not a socket; not removing it", p)
	}
	if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("socket %s: another server is listening on it", p)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", p, err)
	}
	return nil
}

// finishSocket sets the socket's mode once etcd has created it.
func finishSocket(p string) error {
	if err := os.Chmod(p, socketMode); err != nil {
		return fmt.Errorf("socket %s: %w", p, err)
	}
	return nil
}
