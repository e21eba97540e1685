package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/health"
)

// probedBackend answers Get as its mode says; it counts the probes.
type probedBackend struct {
	datastore.Backend // nil: only Get is used
	mu                sync.Mutex
	mode              string // "answer", "absent", "refuse", "hang"
	probes            atomic.Int64
}

var errRefused = errors.New("dial unix /run/calico/etcd.sock: connect: connection refused")

func (b *probedBackend) set(mode string) {
	b.mu.Lock()
	b.mode = mode
	b.mu.Unlock()
}

func (b *probedBackend) Get(ctx context.Context, key string) (*datastore.KV, error) {
	b.probes.Add(1)
	b.mu.Lock()
	mode := b.mode
	b.mu.Unlock()
	switch mode {
	case "answer":
		return &datastore.KV{Key: key, Value: []byte("{}"), ModRevision: 1}, nil
	case "absent":
		return nil, fmt.Errorf("etcd get %s: %w", key, datastore.ErrNotFound)
	case "refuse":
		return nil, fmt.Errorf("etcd get %s: %w", key, errRefused)
	}
	<-ctx.Done()
	return nil, fmt.Errorf("etcd get %s: %w", key, ctx.Err())
}

// dsState is the datastore component as the probes show it.
type dsState struct {
	Degraded bool
	// Detail with the time replaced by <since>.
	Detail string
	Since  string
}

var sinceRE = regexp.MustCompile(`^unreachable since (\S+): `)

func datastoreState(agg *health.Aggregator) (dsState, health.Summary, bool) {
	s := agg.Summary()
	for _, c := range s.Components {
		if c.Name != datastoreComponent || c.LastReport.IsZero() {
			continue
		}
		st := dsState{Degraded: c.Degraded, Detail: c.Detail}
		if m := sinceRE.FindStringSubmatch(c.Detail); m != nil {
			st.Since = m[1]
			st.Detail = sinceRE.ReplaceAllString(c.Detail, "unreachable since <since>: ")
		}
		return st, s, true
	}
	return dsState{}, s, false
}

// The datastore component follows the datastore through outages: clear
// while it answers (an absent key is an answer), degraded while it does
// not, naming when the outage began and why (the read's own error; or,
// when the read gets no answer, what connecting to the endpoint found:
// no answer in time, or no socket), clear again at the first answer; it
// never makes the node not live or not ready.
func TestDatastoreHealthFollowsOutages(t *testing.T) {
	const timeout = 50 * time.Millisecond
	key := datastoreProbeKey
	sock := filepath.Join(t.TempDir(), "etcd.sock")
	ep := "unix://" + sock
	steps := []struct {
		mode string
		// listen: something accepts connections on the endpoint's
		// socket (and answers nothing); else the socket is gone.
		listen bool
		want   dsState
		// sameSince: the outage is the one of the step before.
		sameSince bool
	}{
		{mode: "answer", listen: true, want: dsState{}},
		{mode: "refuse", listen: true, want: dsState{Degraded: true,
			Detail: "unreachable since <since>: etcd get " + key + ": " + errRefused.Error()}},
		{mode: "hang", listen: true, sameSince: true, want: dsState{Degraded: true,
			Detail: "unreachable since <since>: cannot reach etcd at " + ep + ": connected, but no answer within 50ms (is it etcd? is it overloaded or without quorum?)"}},
		{mode: "hang", listen: false, sameSince: true, want: dsState{Degraded: true,
			Detail: "unreachable since <since>: cannot reach etcd at " + ep + ": no such socket: " + sock + " does not exist (is etcd running? is the path right?)"}},
		{mode: "absent", listen: true, want: dsState{}},
		{mode: "hang", listen: true, want: dsState{Degraded: true,
			Detail: "unreachable since <since>: cannot reach etcd at " + ep + ": connected, but no answer within 50ms (is it etcd? is it overloaded or without quorum?)"}},
		{mode: "answer", listen: true, want: dsState{}},
	}
	be := &probedBackend{mode: steps[0].mode}
	agg := health.NewAggregator()
	h := newDatastoreHealth(be, datastore.Config{Endpoints: []string{ep}}, agg, slog.New(slog.DiscardHandler))
	h.interval, h.retry, h.timeout = 5*time.Millisecond, 5*time.Millisecond, timeout
	var ln net.Listener
	defer func() {
		if ln != nil {
			ln.Close()
		}
	}()
	setListening := func(on bool) {
		if on == (ln != nil) {
			return
		}
		if !on {
			ln.Close() // removes the socket
			ln = nil
			return
		}
		var err error
		if ln, err = net.Listen("unix", sock); err != nil {
			t.Fatal(err)
		}
		go func(ln net.Listener) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { // holds the connection, says nothing
					_, _ = io.Copy(io.Discard, c)
					c.Close()
				}()
			}
		}(ln)
	}
	setListening(true)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { h.run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	prevSince := ""
	for i, step := range steps {
		setListening(step.listen)
		be.set(step.mode)
		// Two probes after the switch: the state shown is the new
		// mode's, not one probe's left over from before.
		n := be.probes.Load()
		var got dsState
		var sum health.Summary
		deadline := time.Now().Add(10 * time.Second)
		for {
			var ok bool
			got, sum, ok = datastoreState(agg)
			if ok && be.probes.Load() >= n+2 && got.Detail == step.want.Detail {
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		since := got.Since
		got.Since = ""
		if diff := cmp.Diff(step.want, got); diff != "" {
			t.Fatalf("step %d (%s): datastore component (-want +got):\n%s", i, step.mode, diff)
		}
		if !sum.Live || !sum.Ready || sum.Degraded != step.want.Degraded {
			t.Errorf("step %d (%s): summary live %v ready %v degraded %v; want live, ready, degraded %v",
				i, step.mode, sum.Live, sum.Ready, sum.Degraded, step.want.Degraded)
		}
		if step.want.Degraded {
			if _, err := time.Parse(time.RFC3339, since); err != nil {
				t.Errorf("step %d: since %q: %v", i, since, err)
			}
			if step.sameSince && since != prevSince {
				t.Errorf("step %d: outage since %s, want the same outage as before (since %s)", i, since, prevSince)
			}
		}
		prevSince = since
	}
}
