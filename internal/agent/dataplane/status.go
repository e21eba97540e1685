package dataplane

import "github.com/gocalico/calico/internal/agent/calc"

// updateStatus derives every desired endpoint's status from the last
// Set: bad data or a programming failure is "error"; a missing or down
// interface is "down"; otherwise "up".
func (d *Linux) updateStatus(hs *calc.HostState) {
	d.statuses = d.statuses[:0]
	d.programmed = 0
	for i := range hs.Endpoints {
		e := &hs.Endpoints[i]
		st := EndpointStatus{Key: e.Key, Orchestrator: e.Orchestrator, Workload: e.Namespace + "/" + e.Workload, Endpoint: e.EndpointID}
		l, ok := d.links[e.InterfaceName]
		switch {
		case len(e.Problems) > 0 || !e.Program || d.epErrs[e.Key] != nil:
			st.Status = StatusError
		case !ok:
			st.Status = StatusDown
		case !l.AdminUp || !l.OperUp:
			st.Status = StatusDown
		default:
			st.Status = StatusUp
		}
		if e.Program && ok && d.epErrs[e.Key] == nil {
			d.programmed++
		}
		d.statuses = append(d.statuses, st)
	}
}
