package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A signal writes a heap profile to the configured path (a signal with no
// path configured is only logged).
func TestWriteHeapProfiles(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	sig := make(chan os.Signal)
	var path atomic.Value
	path.Store("")
	done := make(chan struct{})
	go func() {
		writeHeapProfiles(ctx, sig, &path, slog.New(slog.DiscardHandler))
		close(done)
	}()
	p := filepath.Join(t.TempDir(), "heap.pprof")
	sig <- syscall.SIGUSR1
	path.Store(p)
	sig <- syscall.SIGUSR1
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heap profile written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
