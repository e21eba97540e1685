package agent

import (
	"context"
	"time"

	"github.com/gocalico/calico/internal/agent/calc"
	"github.com/gocalico/calico/internal/agent/dataplane"
	"github.com/gocalico/calico/internal/agent/nft"
)

// policyApplier applies the policy table so that an object the kernel
// rejects fails alone (see nft.Isolator): the rest of the table is
// applied, the object stays as the kernel has it (an endpoint keeps its
// previous chains, or its traffic is dropped), and it is retried on its
// own back-off. It knows which interfaces' traffic meets such an object,
// so that their endpoints are reported in error.
type policyApplier struct {
	iso *nft.Isolator
	// affected: the interfaces whose traffic meets an object not as
	// wanted.
	affected map[string]bool
}

func newPolicyApplier(pol policyPlane, m *metrics) *policyApplier {
	iso := nft.NewIsolator(pol.Apply, nil)
	iso.OnRetry = func(id nft.ObjectID) { m.dataplane.Retried(id.Kind.String()) }
	return &policyApplier{iso: iso, affected: map[string]bool{}}
}

// apply applies rs as far as the kernel accepts it. It fails only when
// the table cannot be applied at all. changed says whether the set of
// affected interfaces changed.
func (p *policyApplier) apply(ctx context.Context, rs *nft.Ruleset) (changed bool, err error) {
	if err := p.iso.Apply(ctx, rs); err != nil {
		return false, err
	}
	affected := nft.Affected(rs, p.iso.Held())
	if sameKeys(affected, p.affected) {
		return false, nil
	}
	p.affected = affected
	return true, nil
}

// due reports whether a failed object's retry is due.
func (p *policyApplier) due() bool {
	in, ok := p.iso.RetryIn()
	return ok && in == 0
}

func (p *policyApplier) retryIn() (time.Duration, bool) { return p.iso.RetryIn() }

// failures are the objects the kernel rejected at their last attempt.
func (p *policyApplier) failures() []objectFailure {
	fs := p.iso.Failures()
	out := make([]objectFailure, len(fs))
	for i, f := range fs {
		out[i] = objectFailure{Kind: f.ID.Kind.String(), Name: f.ID.Label(), Err: oneLine(f.Err)}
	}
	return out
}

// endpointIfaces follows the interface of every local endpoint, to tell
// which endpoints a policy failure concerns.
type endpointIfaces map[string]string // endpoint key -> interface

// update takes a whole state (hs) or the changes since the last.
func (e endpointIfaces) update(hs *calc.HostState, changes []calc.EndpointChange) {
	if hs != nil {
		clear(e)
		for _, ep := range hs.Endpoints {
			e[ep.Key] = ep.InterfaceName
		}
		return
	}
	for _, ch := range changes {
		if ch.Endpoint == nil {
			delete(e, ch.Key)
			continue
		}
		e[ch.Key] = ch.Endpoint.InterfaceName
	}
}

// markPolicyErrors reports in error the endpoints whose interface's
// traffic meets a policy object the kernel rejected (or that had to stay
// with one): they keep their previous policy, or are cut off.
func (e endpointIfaces) markPolicyErrors(st []dataplane.EndpointStatus, affected map[string]bool) {
	if len(affected) == 0 {
		return
	}
	for i := range st {
		if iface, ok := e[st[i].Key]; ok && affected[iface] {
			st[i].Status = dataplane.StatusError
		}
	}
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
