package policy

import (
	"strings"
	"testing"

	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/datastore/syncer"
)

// gotoTarget is the chain an endpoint chain's last rule goes to.
func gotoTarget(t *testing.T, rs *nft.Ruleset, chain string) *nft.Chain {
	t.Helper()
	c := rs.Chains[chain]
	if c == nil || len(c.Rules) == 0 {
		t.Fatalf("no chain %s", chain)
	}
	v := c.Rules[len(c.Rules)-1].Verdict
	if v.Kind != nft.VerdictGoto || rs.Chains[v.Chain] == nil {
		t.Fatalf("%s does not end in a goto to a chain of the table: %+v", chain, v)
	}
	return rs.Chains[v.Chain]
}

func walkCount(rs *nft.Ruleset) int {
	n := 0
	for name := range rs.Chains {
		if strings.HasPrefix(name, walkInPrefix) || strings.HasPrefix(name, walkOutPrefix) {
			n++
		}
	}
	return n
}

// TestEndpointsShareWalks: endpoints with the same policies and profiles
// go to one walk chain per direction (the same object from one Ruleset to
// the next); an endpoint whose policies change gets another walk, and a
// walk no endpoint uses leaves the table.
func TestEndpointsShareWalks(t *testing.T) {
	c := NewCalc("host1", nil)
	c.OnUpdates(decodeAll(t, world+`
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: default.web}
spec: {tier: default, selector: app == 'web', ingress: [{action: Allow}], egress: [{action: Allow}]}
`))
	rs := c.Ruleset()
	// cali1 (prod/web) and cali4 (dev/web) differ in profile; cali2
	// (prod/db) and cali3 (prod/fe) have the same policies (none) and
	// profile.
	db, fe := gotoTarget(t, rs, "tw-cali2"), gotoTarget(t, rs, "tw-cali3")
	if db != fe || gotoTarget(t, rs, "fw-cali2") != gotoTarget(t, rs, "fw-cali3") {
		t.Errorf("cali2 and cali3 have the same policies but different walks (%s, %s)", db.Name, fe.Name)
	}
	if w := gotoTarget(t, rs, "tw-cali1"); w == db {
		t.Errorf("cali1 is selected by default.web but shares cali2's walk %s", w.Name)
	}
	if !strings.HasPrefix(db.Name, walkInPrefix) || !strings.HasPrefix(gotoTarget(t, rs, "fw-cali2").Name, walkOutPrefix) {
		t.Errorf("walk names %s / %s lack their direction's prefix", db.Name, gotoTarget(t, rs, "fw-cali2").Name)
	}
	// Five endpoints with four distinct policy lists (cali5 has no
	// profile, cali4 another), two directions.
	if n := walkCount(rs); n != 8 {
		t.Errorf("%d walk chains, want 8", n)
	}

	// Moving db into web's policy: it now shares web's walks; its old
	// walk stays for fe.
	c.OnUpdates(decodeAll(t, `
kind: WorkloadEndpoint
apiVersion: projectcalico.org/v3
metadata: {name: host1-k8s-db-eth0, namespace: prod, labels: {app: web}}
spec: {node: host1, orchestrator: k8s, pod: db, endpoint: eth0, interfaceName: cali2,
  ipNetworks: [10.65.1.2/32, "fd00:65::1:2/128"], profiles: [kns.prod]}
`))
	rs2 := c.Ruleset()
	if gotoTarget(t, rs2, "tw-cali2") != gotoTarget(t, rs2, "tw-cali1") {
		t.Errorf("cali2 now has cali1's policies but not its walk")
	}
	if gotoTarget(t, rs2, "tw-cali3") != fe {
		t.Errorf("cali3's walk was replaced though its policies did not change")
	}
	if n := walkCount(rs2); n != 8 {
		t.Errorf("%d walk chains, want 8", n)
	}
	// Removing fe: the no-policy prod walk has no endpoint left.
	for _, u := range decodeAll(t, world) {
		if strings.Contains(u.Key, "/prod/host1-k8s-fe-eth0") {
			c.OnUpdates([]syncer.Update{{Type: syncer.UpdateDeleted, Key: u.Key}})
		}
	}
	rs3 := c.Ruleset()
	if _, ok := rs3.Chains["tw-cali3"]; ok {
		t.Fatalf("fe's endpoint was not deleted")
	}
	if rs3.Chains[fe.Name] != nil {
		t.Errorf("walk %s is still in the table with no endpoint using it", fe.Name)
	}
	if n := walkCount(rs3); n != 6 {
		t.Errorf("%d walk chains, want 6", n)
	}
}

// hasMarkMatch: some rule of the chain tests the mark.
func hasMarkMatch(c *nft.Chain) bool {
	for _, r := range c.Rules {
		for _, m := range r.Match {
			if m.Kind == nft.MatchMark {
				return true
			}
		}
	}
	return false
}

// TestPassBitOnlyAfterPassingPolicy: a walk tests the pass bit only
// after a policy that has a Pass rule in that direction; an edit that
// gives a policy its first Pass rule moves its endpoints to walks with
// the test, and the Pass works.
func TestPassBitOnlyAfterPassingPolicy(t *testing.T) {
	const pols = `
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: default.first}
spec: {tier: default, order: 1, selector: app == 'web', ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]}
---
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: default.second}
spec: {tier: default, order: 2, selector: app == 'web', ingress: [{action: Deny, protocol: TCP, destination: {ports: [22]}}]}
`
	c := NewCalc("host1", nil)
	c.OnUpdates(decodeAll(t, world+pols))
	rs := c.Ruleset()
	walk := gotoTarget(t, rs, "tw-cali1")
	if hasMarkMatch(walk) {
		t.Errorf("walk %s tests the pass bit with no Pass rule in its policies:\n%s", walk.Name, nft.Render(rs))
	}
	ssh := flow{from: fe, to: web, proto: tcp, dport: 22}
	if simulate(t, rs, "forward", ssh.packet()) {
		t.Errorf("%v got through before the Pass rule", ssh)
	}

	// first passes port 22: second is skipped, the tier ends in Pass and
	// the profile (kns.prod, allow) decides.
	c.OnUpdates(decodeAll(t, `
kind: GlobalNetworkPolicy
apiVersion: projectcalico.org/v3
metadata: {name: default.first}
spec: {tier: default, order: 1, selector: app == 'web', ingress: [{action: Pass, protocol: TCP, destination: {ports: [22]}},
  {action: Allow, protocol: TCP, destination: {ports: [80]}}]}
`))
	rs2 := c.Ruleset()
	walk2 := gotoTarget(t, rs2, "tw-cali1")
	if walk2 == walk || !hasMarkMatch(walk2) {
		t.Errorf("after the edit cali1 goes to %s (before %s); want a new walk that tests the pass bit", walk2.Name, walk.Name)
	}
	if !simulate(t, rs2, "forward", ssh.packet()) {
		t.Errorf("%v blocked after first passes it", ssh)
	}
	if hasMarkMatch(gotoTarget(t, rs2, "fw-cali1")) {
		t.Errorf("the egress walk tests the pass bit, but the Pass rule is an ingress one")
	}
}
