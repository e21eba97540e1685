package calc

import "slices"

// older reports whether a has precedence over b when both claim the same
// interface or address: the endpoint created first keeps what it has (a
// new endpoint never steals a running one's traffic); an unknown creation
// time counts as newest; ties go to the smaller key.
func older(a, b *candidate) bool {
	az, bz := a.created.IsZero(), b.created.IsZero()
	switch {
	case az != bz:
		return bz
	case !az && !a.created.Equal(b.created):
		return a.created.Before(b.created)
	}
	return a.Key < b.Key
}

// resolveConflicts makes sure no two programmed endpoints share an
// interface or an address. Losers of an interface are not programmed at
// all; losers of an address lose only that address. Both are reported.
func resolveConflicts(cands []candidate) {
	// Precedence order, so that the first claimant of anything wins.
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if older(&cands[i], &cands[j]) {
			return -1
		}
		if older(&cands[j], &cands[i]) {
			return 1
		}
		return 0
	})

	ifaceOwner := map[string]int{}
	for _, i := range order {
		c := &cands[i]
		if !c.Program {
			continue
		}
		if w, taken := ifaceOwner[c.InterfaceName]; taken {
			c.problem("interface %s is also claimed by endpoint %s, which has precedence; nothing programmed",
				c.InterfaceName, cands[w].Key)
			c.Program = false
			continue
		}
		ifaceOwner[c.InterfaceName] = i
	}

	addrOwner := map[string]int{}
	for _, i := range order {
		c := &cands[i]
		if !c.Program {
			continue
		}
		kept := c.Addrs[:0]
		for _, a := range c.Addrs {
			if w, taken := addrOwner[a.String()]; taken {
				c.problem("address %s is also claimed by endpoint %s, which has precedence; not routed",
					a.Addr(), cands[w].Key)
				continue
			}
			addrOwner[a.String()] = i
			kept = append(kept, a)
		}
		c.Addrs = kept
	}
}
