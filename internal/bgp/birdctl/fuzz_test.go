package birdctl

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReply feeds arbitrary bytes to the reply reader and the parsers:
// they may fail but must not panic or loop.
func FuzzReply(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("1002-p BGP --- up 2026-11-22\n0000 \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for range 4 {
			lines, err := readReply(r)
			ParseProtocols(lines)
			ParseStatus(lines)
			if err != nil {
				break
			}
		}
	})
}

// FuzzParseProtocols feeds arbitrary detail text to the protocol parser.
func FuzzParseProtocols(f *testing.F) {
	f.Add("Mesh_10_0_0_1 BGP --- up 20:02:59.421 Established", "  Neighbor address: 10.0.0.1", "    Routes: 1 imported, 2 exported, 1 preferred")
	f.Add("x BGP --- start 2026-11-22 20:04:08 Active Socket: x", "  Channel ipv6", "Neighbor AS: 4294967295")
	f.Fuzz(func(t *testing.T, head, d1, d2 string) {
		ps := ParseProtocols([]Line{{2002, "Name Proto"}, {1002, head}, {1006, d1}, {1006, d2}, {0, ""}})
		for _, p := range ps {
			p.Routes()
		}
	})
}
