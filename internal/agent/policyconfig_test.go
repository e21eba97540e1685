package agent

import (
	"context"
	"testing"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/syncer"
	"github.com/gocalico/calico/internal/resources"
)

// nopPlane is a policy plane that programs nothing.
type nopPlane struct{}

func (nopPlane) Apply(context.Context, *nft.Ruleset) error { return nil }
func (nopPlane) Resync()                                   {}
func (nopPlane) Counters(context.Context) (map[string]nft.Counter, error) {
	return nil, nil
}
func (nopPlane) Close() error { return nil }

// TestConfigAloneRerendersPolicy: a FelixConfiguration change that the
// policy table depends on (defaultEndpointToHostAction,
// workloadSourceSpoofing) makes it be rendered again, with no policy
// update alongside.
func TestConfigAloneRerendersPolicy(t *testing.T) {
	dp, _ := dataplane.NewFake(nil, nil)
	defer dp.Close()
	a := newAgent(Config{NodeName: nodeName}, dp, nopPlane{}, nil)
	fc := func(action string) []syncer.Update {
		f := v3.NewFelixConfiguration()
		f.Metadata.Name = "default"
		f.Spec.DefaultEndpointToHostAction = action
		key, err := resources.KeyOf(f)
		if err != nil {
			t.Fatal(err)
		}
		return []syncer.Update{{Type: syncer.UpdateNew, Key: key, Value: f}}
	}
	a.OnUpdates(fc("Drop"))
	a.polDirty = false // as after a snapshot
	a.OnUpdates(fc("Drop"))
	if a.polDirty {
		t.Error("the same configuration again: policy marked dirty")
	}
	a.OnUpdates(fc("Accept"))
	if !a.polDirty {
		t.Fatal("defaultEndpointToHostAction changed alone: the policy table is not rendered again")
	}
	if got := a.pcalc.Ruleset().Chains["input"]; got == nil || len(got.Rules) < 3 || got.Rules[2].Verdict.Kind != nft.VerdictAccept {
		t.Errorf("input chain after the change: %+v", got)
	}
}
