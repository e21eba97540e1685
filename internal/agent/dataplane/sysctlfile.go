package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
