package labelindex

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// step is one or more operations and the callbacks they must cause, as
// "+selector item" / "-selector item" for Index and "set +member" /
// "set -member" for IPSets, sorted.
type step struct {
	ops  []op
	want []string
}

// lbl parses "a=x,b=y" into labels.
func lbl(s string) map[string]string {
	l := map[string]string{}
	for kv := range strings.SplitSeq(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			l[k] = v
		}
	}
	return l
}

func upd(id, labels string, parents ...string) op {
	return op{kind: opUpdateItem, id: id, labels: lbl(labels), parents: parents}
}
func delItem(id string) op { return op{kind: opDeleteItem, id: id} }
func prof(id, labels string) op {
	return op{kind: opUpdateParent, id: id, labels: lbl(labels)}
}
func delProf(id string) op        { return op{kind: opDeleteParent, id: id} }
func sel(id, src string) op       { return op{kind: opUpdateSelector, id: id, sel: src} }
func delSel(id string) op         { return op{kind: opDeleteSelector, id: id} }
func ops(o ...op) []op            { return o }
func events(e ...string) []string { return e }

// runSteps applies the steps in order, checking the callbacks of each and
// the whole state against brute force.
func runSteps(t *testing.T, steps []step) {
	t.Helper()
	h := newHarness(t)
	for i, st := range steps {
		for _, o := range st.ops {
			h.apply(o)
			h.check(o.String())
		}
		if diff := cmp.Diff(st.want, h.takeEvents()); diff != "" {
			t.Fatalf("step %d %v: callbacks (-want +got):\n%s", i, st.ops, diff)
		}
	}
	h.clearAll()
}

func TestIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"own labels win, then the first listed parent", []step{
			{ops(prof("p1", "a=y,b=y"), prof("p2", "b=z,c=z")), nil},
			{ops(sel("ax", "a == 'x'"), sel("ay", "a == 'y'"), sel("by", "b == 'y'"), sel("bz", "b == 'z'"), sel("cz", "c == 'z'")), nil},
			{ops(upd("i1", "a=x", "p1", "p2")), events("+ax i1", "+by i1", "+cz i1")},
			{ops(upd("i1", "a=x", "p2", "p1")), events("+bz i1", "-by i1")},
			{ops(upd("i1", "", "p2", "p1")), events("+ay i1", "-ax i1")},
			{ops(upd("i1", "", "p2", "p2", "p1")), nil},
			{ops(upd("i1", "", "p1", "p2", "p1")), events("+by i1", "-bz i1")},
		}},
		{"missing parent, deleted and defined again", []step{
			{ops(sel("q", "has(q)"), upd("i1", "", "p9")), nil},
			{ops(prof("p9", "q=1")), events("+q i1")},
			{ops(prof("p9", "q=1")), nil},
			{ops(delProf("p9")), events("-q i1")},
			{ops(delProf("p9"), delProf("p8")), nil},
			{ops(prof("p9", "q=2")), events("+q i1")},
		}},
		{"parent change hidden by own label or an earlier parent", []step{
			{ops(sel("ax", "a == 'x'"), prof("p1", "b=1"), prof("p2", "a=x")), nil},
			{ops(upd("i1", "a=x", "p1", "p2"), upd("i2", "", "p1", "p2")), events("+ax i1", "+ax i2")},
			{ops(prof("p1", "a=x")), nil},
			{ops(prof("p2", "a=y")), nil},
			{ops(prof("p1", "a=z")), events("-ax i2")},
			{ops(prof("p1", ""), prof("p2", "a=x")), events("+ax i2")},
		}},
		{"parent change falling through to a later parent with the same value", []step{
			{ops(sel("ax", "a == 'x'"), prof("p1", "a=x"), prof("p2", "a=x"), upd("i1", "", "p1", "p2")), events("+ax i1")},
			{ops(delProf("p1")), nil},
			{ops(prof("p1", "a=x,b=y")), nil},
		}},
		{"selector replaced", []step{
			{ops(upd("i1", "a=x"), upd("i2", "a=y"), upd("i3", "a=z"), upd("i4", "")), nil},
			{ops(sel("s", "a == 'x'")), events("+s i1")},
			{ops(sel("s", `a=="x"`)), nil},
			{ops(sel("s", "a in {'y', 'x'}")), events("+s i2")},
			{ops(sel("s", "a != 'x'")), events("+s i3", "+s i4", "-s i1")},
			{ops(sel("s", "a in {}")), events("-s i2", "-s i3", "-s i4")},
			{ops(sel("s", "all()")), events("+s i1", "+s i2", "+s i3", "+s i4")},
			{ops(delSel("s"), delSel("s")), events("-s i1", "-s i2", "-s i3", "-s i4")},
		}},
		{"item no-ops and deletion", []step{
			{ops(sel("s", "a == 'x' && b != 'y'"), upd("i1", "a=x,c=1", "p1")), events("+s i1")},
			{ops(upd("i1", "a=x,c=1", "p1"), upd("i1", "c=1,a=x", "p1", "p1")), nil},
			{ops(upd("i1", "a=x,c=2", "p1")), nil},
			{ops(upd("i1", "a=x,b=y")), events("-s i1")},
			{ops(upd("i1", "a=x,b=z")), events("+s i1")},
			{ops(delItem("i1"), delItem("i1"), delItem("nope")), events("-s i1")},
		}},
		{"selectors no label can index", []step{
			{ops(sel("all", "all()"), sel("nothas", "!has(a)"), sel("ne", "a != 'x' || b == 'y'")), nil},
			{ops(upd("i1", "")), events("+all i1", "+ne i1", "+nothas i1")},
			{ops(upd("i1", "a=x")), events("-ne i1", "-nothas i1")},
			{ops(upd("i1", "a=x,b=y")), events("+ne i1")},
			{ops(prof("p", "a=y"), upd("i2", "", "p")), events("+all i2", "+ne i2")},
			{ops(delProf("p")), events("+nothas i2")},
		}},
		{"selectors added after items and parents", []step{
			{ops(prof("ns", "pcns.team=blue"), upd("i1", "app=web", "ns"), upd("i2", "app=db", "ns"), upd("i3", "app=web")), nil},
			{ops(sel("blueweb", "pcns.team == 'blue' && app == 'web'"), sel("team", "has(pcns.team)")),
				events("+blueweb i1", "+team i1", "+team i2")},
			{ops(prof("ns", "pcns.team=red")), events("-blueweb i1")},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.steps) })
	}
}
