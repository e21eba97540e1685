package dataplane

import (
	"slices"
	"strings"
)

// status derives one desired endpoint's status from the last apply: bad
// data or a programming failure is "error"; a missing or down interface
// is "down"; otherwise "up". It also says whether the endpoint counts as
// programmed, and ok is false when the endpoint is not desired.
func (d *Linux) status(key string) (st EndpointStatus, programmed, ok bool) {
	e, ok := d.desired[key]
	if !ok {
		return EndpointStatus{}, false, false
	}
	st = EndpointStatus{Key: e.Key, Orchestrator: e.Orchestrator, Workload: e.Namespace + "/" + e.Workload, Endpoint: e.EndpointID}
	l, up := d.links[e.InterfaceName]
	switch {
	case len(e.Problems) > 0 || !e.Program || d.epErrs[key] != nil:
		st.Status = StatusError
	case !up:
		st.Status = StatusDown
	case !l.AdminUp || !l.OperUp:
		st.Status = StatusDown
	default:
		st.Status = StatusUp
	}
	return st, e.Program && up && d.epErrs[key] == nil, true
}

func compareStatusKey(s EndpointStatus, key string) int { return strings.Compare(s.Key, key) }

// resetStatuses recomputes every status; keys are the desired keys,
// sorted.
func (d *Linux) resetStatuses(keys []string) {
	old, oldProgrammed := d.statuses, len(d.programmedSet)
	d.statuses = make([]EndpointStatus, 0, len(keys))
	clear(d.programmedSet)
	for _, k := range keys {
		st, programmed, _ := d.status(k)
		d.statuses = append(d.statuses, st)
		if programmed {
			d.programmedSet[k] = true
		}
	}
	if !slices.Equal(old, d.statuses) || oldProgrammed != len(d.programmedSet) {
		d.statusVersion++
	}
}

// updateStatuses recomputes the statuses of keys (present or gone).
func (d *Linux) updateStatuses(keys []string) {
	for _, k := range keys {
		st, programmed, ok := d.status(k)
		if programmed != d.programmedSet[k] {
			d.statusVersion++
			if programmed {
				d.programmedSet[k] = true
			} else {
				delete(d.programmedSet, k)
			}
		}
		i, found := slices.BinarySearchFunc(d.statuses, k, compareStatusKey)
		switch {
		case found && !ok:
			d.statuses = slices.Delete(d.statuses, i, i+1)
		case found && d.statuses[i] != st:
			d.statuses[i] = st
		case !found && ok:
			d.statuses = slices.Insert(d.statuses, i, st)
		default:
			continue
		}
		d.statusVersion++
	}
}
