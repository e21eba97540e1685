package upstream

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/datastore"
	"github.com/gocalico/calico/internal/resources"
)

// TestDefaultAllowProfile checks the virtual profile on an empty
// datastore: both clients return the same object from Get, and it is
// never stored.
func TestDefaultAllowProfile(t *testing.T) {
	ctx := testContext(t)
	c := newCluster(t)
	ours, err := c.ours.Get(ctx, "Profile", "", v3.DefaultAllowProfileName)
	if err != nil {
		t.Fatalf("our Get: %v", err)
	}
	up, err := upKinds["Profile"].get(ctx, c.up, "", v3.DefaultAllowProfileName)
	if err != nil {
		t.Fatalf("upstream Get: %v", err)
	}
	if diff := cmp.Diff(view(t, up), view(t, ours)); diff != "" {
		t.Errorf("Get %s differs (-upstream +ours):\n%s", v3.DefaultAllowProfileName, diff)
	}
	_, err = c.be.Get(ctx, resources.Prefix+"profiles/"+v3.DefaultAllowProfileName)
	if !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("%s is stored in etcd (err %v); it must stay virtual", v3.DefaultAllowProfileName, err)
	}
}
