package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/datastore/etcdtest"
	"github.com/gocalico/calico/internal/lab"
)

// churnOp is one write of the churn: what, when, and how it ended.
type churnOp struct {
	what       string
	start, end time.Time
	err        error
}

// churn writes to the datastore continuously, as users and a container
// runtime do: each round adds a workload through the CNI plugin on
// alternate hosts and a policy through calicoctl, waits until the agents
// have programmed them, then deletes the previous round's policy and
// workload and waits until the agents have removed them.
type churn struct {
	l      *testLab
	hosts  []string
	dir    string
	stop   atomic.Bool
	rounds atomic.Int32

	mu       sync.Mutex
	ops      []churnOp
	missed   []string // evidence that did not come
	programs int      // changes the agents were seen to program
}

func (c *churn) op(what string, f func() error) bool {
	o := churnOp{what: what, start: time.Now()}
	o.err = f()
	o.end = time.Now()
	c.mu.Lock()
	c.ops = append(c.ops, o)
	c.mu.Unlock()
	return o.err == nil
}

// await waits (at most converge) until cond holds; it records a miss
// otherwise.
func (c *churn) await(what string, cond func() (bool, string)) {
	deadline := time.Now().Add(converge)
	for {
		ok, why := cond()
		if ok {
			c.mu.Lock()
			c.programs++
			c.mu.Unlock()
			return
		}
		if time.Now().After(deadline) || c.l.ctx.Err() != nil {
			c.mu.Lock()
			c.missed = append(c.missed, fmt.Sprintf("%s: not within %v: %s", what, converge, why))
			c.mu.Unlock()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run churns until stopped.
func (c *churn) run() {
	l := c.l
	be, err := l.Backend(l.ctx)
	if err != nil {
		c.mu.Lock()
		c.missed = append(c.missed, err.Error())
		c.mu.Unlock()
		return
	}
	statusUp := func(w lab.Workload) func() (bool, string) {
		return func() (bool, string) {
			kv, err := be.Get(l.ctx, endpointStatusKey(w))
			if err != nil {
				return false, err.Error()
			}
			return string(kv.Value) == `{"status":"up"}`, string(kv.Value)
		}
	}
	statusGone := func(w lab.Workload) func() (bool, string) {
		return func() (bool, string) {
			_, err := be.Get(l.ctx, endpointStatusKey(w))
			return errors.Is(err, datastore.ErrNotFound), fmt.Sprintf("get: %v", err)
		}
	}
	inTables := func(policy string, want bool) func() (bool, string) {
		return func() (bool, string) {
			for _, h := range c.hosts {
				out, err := l.run(h, "nft", "list", "table", "inet", "calico")
				if err != nil {
					return false, err.Error()
				}
				if strings.Contains(out, policy) != want {
					return false, h + ": not yet"
				}
			}
			return true, ""
		}
	}
	var prevWorkload *lab.Workload
	prevPolicy := ""
	for k := 1; !c.stop.Load(); k++ {
		host := c.hosts[k%len(c.hosts)]
		w, err := l.NewWorkload(host, 10+k)
		if err != nil {
			c.op("new workload", func() error { return err })
			return
		}
		if c.op("CNI ADD "+w.Name, func() (err error) { w, err = l.AddWorkloadCNI(l.ctx, w); return err }) {
			c.await(host+" programs "+w.Name, statusUp(w))
		} else {
			// Undone as a runtime would: DEL after a failed ADD.
			c.op("CNI DEL "+w.Name+" (after the failed ADD)", func() error { return l.RemoveWorkloadCNI(l.ctx, w) })
		}
		policy := fmt.Sprintf("churn-%d", k)
		file := filepath.Join(c.dir, policy+".yaml")
		doc := fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: %s\nspec:\n  order: 500\n  selector: all()\n  types: [Ingress]\n  ingress:\n  - action: Allow\n", policy)
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			c.op("write "+file, func() error { return err })
			return
		}
		if c.op("calicoctl apply "+policy, func() error { return c.calicoctl("apply", "-f", file) }) {
			c.await("every host programs "+policy, inTables(policy, true))
		}
		if prevPolicy != "" {
			p := prevPolicy
			if c.op("calicoctl delete "+p, func() error { return c.calicoctl("delete", "globalnetworkpolicy", p, "--skip-not-exists") }) {
				c.await("every host removes "+p, inTables(p, false))
			}
		}
		if prevWorkload != nil {
			pw := *prevWorkload
			if c.op("CNI DEL "+pw.Name, func() error { return l.RemoveWorkloadCNI(l.ctx, pw) }) {
				c.await(pw.Host+" removes "+pw.Name, statusGone(pw))
			}
		}
		prevWorkload, prevPolicy = &w, policy
		c.rounds.Add(1)
	}
}

// calicoctl runs calicoctl on host1; a non-zero exit is an error
// carrying its output.
func (c *churn) calicoctl(args ...string) error {
	out, err := c.l.run("host1", append([]string{"calicoctl"}, args...)...)
	if err != nil {
		return fmt.Errorf("calicoctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return nil
}

// run runs argv in target and returns its combined output; unlike exec
// it does not fail the test, so it may be used from other goroutines.
func (l *testLab) run(target string, argv ...string) (string, error) {
	cmd, err := l.Command(l.ctx, target, argv...)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// An etcd cluster of three loses its leader (SIGKILL) while workloads
// and policies churn through the CNI plugin and calicoctl: the writes
// carry on through the other members (a write in flight at the kill may
// fail, saying why), the agents keep programming every change, traffic
// between workloads the churn does not touch loses no packet, and the
// member, started again, catches up.
func TestPrivilegedEtcdMemberLossUnderChurn(t *testing.T) {
	etcdtest.RequireServer(t)
	on := true
	felix := e2eFelix()
	felix.EndpointReportingEnabled = &on
	l := newLab(t, lab.Config{Hosts: 2, WorkloadsPerHost: 1, CNI: true, EtcdCluster: 3, FelixConfiguration: felix})
	w11, w21 := l.workload("host1-w1"), l.workload("host2-w1")
	pingers := []*pinger{
		l.startPinger(w11.Name, w21.IPv4, pingInterval),
		l.startPinger(w21.Name, w11.IPv6, pingInterval),
	}

	c := &churn{l: l, hosts: []string{"host1", "host2"}, dir: t.TempDir()}
	var wg sync.WaitGroup
	wg.Go(c.run)
	defer func() {
		c.stop.Store(true)
		wg.Wait()
	}()
	const before, after = 2, 5
	l.eventually(2*time.Minute, fmt.Sprintf("%d rounds of churn", before), func() (bool, string) {
		return c.rounds.Load() >= before, fmt.Sprintf("%d rounds", c.rounds.Load())
	})

	leader, err := l.EtcdLeader(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	killStart := time.Now()
	if err := l.StopEtcdMember(l.ctx, leader, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killEnd := time.Now()
	killedAt := c.rounds.Load()
	t.Logf("etcd member %d (the leader) killed during round %d of the churn", leader, killedAt+1)
	l.eventually(3*time.Minute, fmt.Sprintf("%d more rounds of churn without member %d", after, leader), func() (bool, string) {
		return c.rounds.Load() >= killedAt+after+1, fmt.Sprintf("%d rounds", c.rounds.Load())
	})
	c.stop.Store(true)
	wg.Wait()

	c.mu.Lock()
	ops, missed, programs := c.ops, c.missed, c.programs
	c.mu.Unlock()
	failed := 0
	for _, o := range ops {
		if o.err == nil {
			continue
		}
		failed++
		if o.start.Before(killEnd) && o.end.After(killStart) {
			// In flight at the kill: allowed to fail, if it says so.
			t.Logf("%s, in flight when member %d was killed, failed: %v", o.what, leader, o.err)
			continue
		}
		t.Errorf("%s failed (%s, not in flight at the kill, %s-%s): %v", o.what, o.start.Format("15:04:05.000"),
			killStart.Format("15:04:05.000"), killEnd.Format("15:04:05.000"), o.err)
	}
	t.Logf("churn: %d rounds, %d writes, %d failed; the agents programmed %d changes", c.rounds.Load(), len(ops), failed, programs)
	for _, m := range missed {
		t.Errorf("the agents did not keep up with the churn: %s", m)
	}

	// Started again, the member catches up with what was written
	// without it.
	be, err := l.Backend(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := be.Update(l.ctx, "/calico-e2e/after-member-loss", []byte("x"), 0, 0)
	if err != nil {
		t.Fatalf("write through the remaining members: %v", err)
	}
	if err := l.StartEtcdMember(l.ctx, leader); err != nil {
		t.Fatal(err)
	}
	l.eventually(converge, fmt.Sprintf("member %d at revision %d", leader, rev), func() (bool, string) {
		st, err := l.EtcdMemberStatus(l.ctx, leader)
		if err != nil {
			return false, err.Error()
		}
		return st.Revision >= rev, fmt.Sprintf("at revision %d", st.Revision)
	})

	for _, p := range pingers {
		r := p.stop(2 * time.Second)
		t.Logf("ping %s -> %s: %s", p.from, p.dst, r)
		if r.sent == 0 || len(r.lost) > 0 || r.err != nil {
			t.Errorf("ping %s -> %s across the member loss: %s: want no loss", p.from, p.dst, r)
		}
	}
}
