package nft

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// opKind is one kind of change to the table. The planner emits ops in
// the order of these constants, which is an order the kernel accepts in
// one transaction: references to a chain or set (jump rules, map
// elements, lookups) are gone before the chain or set is deleted, and
// chains and sets exist before anything refers to them.
type opKind int

const (
	opAddTable   opKind = iota
	opFlushChain        // remove all rules of a chain being rewritten, re-created or deleted
	opDelElems          // remove elements (before adds: interval spans may be replaced by overlapping ones)
	opDelSet            // a set or map no longer wanted, or whose shape changed
	opDelChain          // a chain no longer wanted, or a base chain whose hook changed
	opAddSet            // a new or re-created set or map, empty
	opAddChain          // a new or re-created chain, empty
	opFlushSet          // a set whose kernel content could not be read back
	opAddElems          // new elements (all of them for new sets)
	opAddRules          // all rules of a new, re-created or rewritten chain
)

var opNames = [...]string{
	opAddTable:   "add table",
	opFlushChain: "flush chain",
	opDelElems:   "delete elements",
	opDelSet:     "delete set",
	opDelChain:   "delete chain",
	opAddSet:     "add set",
	opAddChain:   "add chain",
	opFlushSet:   "flush set",
	opAddElems:   "add elements",
	opAddRules:   "add rules",
}

func (k opKind) String() string { return opNames[k] }

// op is one planned change. Plans are pure data so that tests can check
// what a change of ruleset costs without a kernel.
type op struct {
	kind  opKind
	name  string // chain or set/map; empty for the table
	elems []elem // opAddElems, opDelElems
}

func (o op) String() string {
	s := o.kind.String()
	if o.name != "" {
		s += " " + o.name
	}
	if o.elems != nil {
		s += fmt.Sprintf(" (%d)", len(o.elems))
	}
	return s
}

// plan returns the ops that turn old into want.desired's state, and none
// when they are equal. old nil means an empty kernel. Both may be the
// whole table or, when old is known to be what the kernel holds, the
// part of it that changes (see model.partial).
func plan(old *state, want *desired) []op {
	if old == nil || !old.table {
		old = emptyState()
	}
	var ops []op
	if !old.table {
		ops = append(ops, op{kind: opAddTable})
	}

	// Sets and maps.
	var setsDel, setsAdd []string
	recreated := map[string]bool{}
	for _, name := range sortedKeys(old.sets) {
		o := old.sets[name]
		w, ok := want.sets[name]
		switch {
		case !ok:
			setsDel = append(setsDel, name)
		case o.spec != w.spec:
			setsDel = append(setsDel, name)
			setsAdd = append(setsAdd, name)
			recreated[name] = true
		}
	}
	for _, name := range sortedKeys(want.sets) {
		if _, ok := old.sets[name]; !ok {
			setsAdd = append(setsAdd, name)
		}
	}

	// Chains.
	var chainsFlush, chainsDel, chainsAdd, chainsRules []string
	for _, name := range sortedKeys(old.chains) {
		o := old.chains[name]
		w, ok := want.chains[name]
		switch {
		case !ok:
			chainsFlush = append(chainsFlush, name)
			chainsDel = append(chainsDel, name)
		case !reflect.DeepEqual(o.base, w.base):
			chainsFlush = append(chainsFlush, name)
			chainsDel = append(chainsDel, name)
			chainsAdd = append(chainsAdd, name)
			chainsRules = append(chainsRules, name)
		case !slices.Equal(o.rules, w.rules) || refsAny(want.refs[name], recreated):
			chainsFlush = append(chainsFlush, name)
			chainsRules = append(chainsRules, name)
		}
	}
	for _, name := range sortedKeys(want.chains) {
		if _, ok := old.chains[name]; !ok {
			chainsAdd = append(chainsAdd, name)
			chainsRules = append(chainsRules, name)
		}
	}

	for _, name := range chainsFlush {
		ops = append(ops, op{kind: opFlushChain, name: name})
	}
	// Element changes of sets that stay.
	var adds []op
	var flushSets []string
	for _, name := range sortedKeys(want.sets) {
		w := want.sets[name]
		o, ok := old.sets[name]
		if !ok || recreated[name] || o.dirty {
			if o != nil && o.dirty && !recreated[name] {
				flushSets = append(flushSets, name)
			}
			if len(w.elems) > 0 {
				adds = append(adds, op{kind: opAddElems, name: name, elems: w.elems})
			}
			continue
		}
		if o == w {
			continue
		}
		var del, add []elem
		if d := want.deltas[name]; d != nil && d.from == o {
			del, add = d.del, d.add // updated from what the kernel holds
		} else {
			del, add = diffElems(o.elems, w.elems)
		}
		if len(del) > 0 {
			ops = append(ops, op{kind: opDelElems, name: name, elems: del})
		}
		if len(add) > 0 {
			adds = append(adds, op{kind: opAddElems, name: name, elems: add})
		}
	}
	for _, name := range setsDel {
		ops = append(ops, op{kind: opDelSet, name: name})
	}
	for _, name := range chainsDel {
		ops = append(ops, op{kind: opDelChain, name: name})
	}
	slices.Sort(setsAdd)
	for _, name := range setsAdd {
		ops = append(ops, op{kind: opAddSet, name: name})
	}
	slices.Sort(chainsAdd)
	for _, name := range chainsAdd {
		ops = append(ops, op{kind: opAddChain, name: name})
	}
	for _, name := range flushSets {
		ops = append(ops, op{kind: opFlushSet, name: name})
	}
	ops = append(ops, adds...)
	slices.Sort(chainsRules)
	for _, name := range chainsRules {
		if len(want.chains[name].rules) > 0 {
			ops = append(ops, op{kind: opAddRules, name: name})
		}
	}
	return ops
}

func refsAny(refs []string, names map[string]bool) bool {
	for _, r := range refs {
		if names[r] {
			return true
		}
	}
	return false
}

// diffElems compares two sorted element lists. A map element whose
// verdict changed is deleted and added again.
func diffElems(old, want []elem) (del, add []elem) {
	i, j := 0, 0
	for i < len(old) && j < len(want) {
		if old[i] == want[j] {
			i++
			j++
			continue
		}
		switch c := old[i].span.compare(want[j].span); {
		case c == 0:
			if old[i].val != want[j].val {
				del = append(del, old[i])
				add = append(add, want[j])
			}
			i++
			j++
		case c < 0:
			del = append(del, old[i])
			i++
		default:
			add = append(add, want[j])
			j++
		}
	}
	del = append(del, old[i:]...)
	add = append(add, want[j:]...)
	return del, add
}

// planString is a plan one op a line, for logs and tests.
func planString(ops []op) string {
	var b strings.Builder
	for _, o := range ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}
