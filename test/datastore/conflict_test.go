package datastore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	v3 "github.com/gocalico/calico/api/v3"
	ds "github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// TestConcurrentUpdateConflict: two writers update the same resource from
// the same read; exactly one wins and the other sees ErrConflict.
func TestConcurrentUpdateConflict(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := resources.New(e.be)
	p := v3.NewIPPool()
	p.Metadata.Name = "p1"
	p.Spec.CIDR = "10.70.0.0/16"
	if _, err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	read, err := c.Get(ctx, "IPPool", "", "p1")
	if err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		u := read.DeepCopyResource().(*v3.IPPool)
		u.Metadata.Labels = map[string]string{"writer": string(rune('a' + i))}
		wg.Go(func() {
			<-start
			_, errs[i] = c.Update(ctx, u)
		})
	}
	close(start)
	wg.Wait()
	wins, conflicts := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, ds.ErrConflict):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != 1 {
		t.Fatalf("wins=%d conflicts=%d, want 1 and 1 (errors %v)", wins, conflicts, errs)
	}
	var re *resources.Error
	for _, err := range errs {
		if err != nil && (!errors.As(err, &re) || re.Kind != "IPPool" || re.Name != "p1") {
			t.Errorf("conflict error %v does not name IPPool p1", err)
		}
	}
}

// TestReplaceStaleResourceVersion: calicoctl replace with an old
// resourceVersion fails with a conflict and writes nothing; without one it
// replaces whatever is current.
func TestReplaceStaleResourceVersion(t *testing.T) {
	e := newEnv(t)
	const pool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: p1, labels: {v: "1"}}
spec: {cidr: 10.71.0.0/16}
`
	e.ctl.MustRun(t, pool, "create", "-f", "-")
	old := e.ctl.MustRun(t, "", "get", "ippool", "p1", "-o", "yaml").Stdout
	e.ctl.MustRun(t, "", "patch", "ippool", "p1", "-p", `{"metadata":{"labels":{"v":"2"}}}`)
	key := "/calico/resources/v3/projectcalico.org/ippools/p1"
	before := e.rawKV(t, key)

	edited := strings.Replace(old, `v: "1"`, `v: "3"`, 1)
	res := e.ctl.Run(t, edited, "replace", "-f", "-")
	if res.Code != 1 {
		t.Fatalf("stale replace: exit %d, want 1\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	mustContain(t, "stale replace stderr", res.Stderr, "Failed to replace 'IPPool' resource", "conflict", "IPPool(p1)")
	if after := e.rawKV(t, key); after.ModRevision != before.ModRevision {
		t.Errorf("stale replace wrote the key")
	}

	// The same patch with a stale pinned resourceVersion fails too.
	oldRV := path(yamlObject(t, old), "metadata", "resourceVersion").(string)
	res = e.ctl.Run(t, "", "patch", "ippool", "p1", "-p",
		`{"metadata":{"resourceVersion":"`+oldRV+`","labels":{"v":"4"}}}`)
	if res.Code != 1 || !strings.Contains(res.Stderr, "conflict") {
		t.Errorf("pinned stale patch: exit %d, stderr %q", res.Code, res.Stderr)
	}
}
