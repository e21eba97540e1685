package policy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"strings"

	v3 "github.com/gocalico/calico/api/v3"
	"github.com/gocalico/calico/internal/agent/nft"
	"github.com/gocalico/calico/internal/selector"
)

// setNamer hands out set names while one chain is rendered and collects
// which it used.
type setNamer struct {
	c    *Calc
	used []string
}

func (n *setNamer) SetName(k SetKey, sel selector.Selector, family int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", k.Selector, k.NamedPort, k.Proto)))
	kind := "s"
	if k.NamedPort != "" {
		kind = "np"
	}
	name := fmt.Sprintf("%s%d-%s", kind, family, strings.ToLower(base32.StdEncoding.EncodeToString(sum[:10])))
	if _, ok := n.c.setDefs[name]; !ok {
		n.c.setDefs[name] = setDef{key: k, family: family}
		n.c.setsDirty[name] = true
		n.c.sets.AddSet(name, sel, k.NamedPort, k.Proto)
	}
	if !slices.Contains(n.used, name) {
		n.used = append(n.used, name)
	}
	return name
}

// ref and unref count the rendered chains using each set; a set no chain
// uses is dropped from the index.
func (c *Calc) ref(names []string) {
	for _, n := range names {
		c.setRefs[n]++
	}
}

func (c *Calc) unref(names []string) {
	for _, n := range names {
		if c.setRefs[n]--; c.setRefs[n] <= 0 {
			delete(c.setRefs, n)
			delete(c.setDefs, n)
			c.setsDirty[n] = true
			c.sets.RemoveSet(n)
		}
	}
}

// renderPolicy renders a policy's two chains. A rule that cannot be
// enforced as written makes the whole policy drop everything (and is
// reported): it never allows more than it says.
func (c *Calc) renderPolicy(p *policy) *rendered {
	return c.renderChains(polInPrefix+p.id, polOutPrefix+p.id, p.ingress, p.egress, p.selErr, p.problemKey(), "invalid-policy",
		func(n *setNamer, dir string) *ruleCtx {
			return &ruleCtx{sets: n, namespace: p.namespace, stage: p.stage,
				comment: fmt.Sprintf("%s/%s:%s:", strings.ToLower(p.kind[:1]), p.id, dir[:2])}
		})
}

// renderProfile renders a profile's two chains, failing closed as
// renderPolicy does.
func (c *Calc) renderProfile(name string, s *v3.ProfileSpec) *rendered {
	return c.renderChains(profInPrefix+name, profOutPrefix+name, s.Ingress, s.Egress, nil, "Profile "+name, "invalid-profile",
		func(n *setNamer, dir string) *ruleCtx {
			return &ruleCtx{sets: n, profile: true, comment: fmt.Sprintf("pr/%s:%s:", name, dir[:2])}
		})
}

// renderChains renders the ingress and egress rules into the chains
// named. An error (pre, or a rule that cannot be enforced) replaces both
// chains with a drop commented invalid and is recorded under key in
// Problems; the sets the abandoned render registered are released.
func (c *Calc) renderChains(inName, outName string, ingress, egress []v3.Rule, pre error, key, invalid string,
	newCtx func(n *setNamer, dir string) *ruleCtx) *rendered {
	n := &setNamer{c: c}
	in, out := &nft.Chain{Name: inName}, &nft.Chain{Name: outName}
	err := pre
	for _, d := range []struct {
		chain *nft.Chain
		rules []v3.Rule
		dir   string
	}{{in, ingress, "ingress"}, {out, egress, "egress"}} {
		if err != nil {
			break
		}
		ctx := newCtx(n, d.dir)
		for i := range d.rules {
			rs, rerr := renderRule(ctx, fmt.Sprintf("spec.%s[%d]", d.dir, i), &d.rules[i], i)
			if rerr != nil {
				err = rerr
				break
			}
			d.chain.Rules = append(d.chain.Rules, rs...)
		}
	}
	if err != nil {
		c.Problems[key] = err.Error()
		deny := nft.Rule{Counter: true, Verdict: nft.Verdict{Kind: nft.VerdictDrop}, Comment: invalid}
		in.Rules, out.Rules = []nft.Rule{deny}, []nft.Rule{deny}
		c.unrefLater(n.used)
		n.used = nil
	} else {
		delete(c.Problems, key)
	}
	return &rendered{chains: []*nft.Chain{in, out}, sets: n.used}
}

// unrefLater drops sets registered by a render that was abandoned.
func (c *Calc) unrefLater(names []string) {
	for _, s := range names {
		if c.setRefs[s] == 0 {
			delete(c.setDefs, s)
			c.setsDirty[s] = true
			c.sets.RemoveSet(s)
		}
	}
}
