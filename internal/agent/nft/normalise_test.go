package nft

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormaliseListing(t *testing.T) {
	// As nft 1.0.6 lists a table: blocks in creation order, hash set
	// elements in hash order and wrapped, counters with values.
	in := `table inet calico {
	chain b {
		ip saddr { 10.0.0.9, 10.0.0.10,
			   10.0.0.1 } counter packets 12 bytes 1008 accept comment "a, {b}"
	}

	map m {
		type ifname : verdict
		elements = { "eth1" : jump b,
			     "eth0" : goto b }
	}

	set s {
		type ifname
		elements = { "eth1",
			     "cali0" }
	}

	chain a {
		type filter hook input priority filter; policy accept;
		meta l4proto { udp, tcp } counter packets 0 bytes 0
	}
}
`
	want := `table inet calico {
	set s {
		type ifname
		elements = { "cali0", "eth1" }
	}

	map m {
		type ifname : verdict
		elements = { "eth0" : goto b, "eth1" : jump b }
	}

	chain a {
		type filter hook input priority filter; policy accept;
		meta l4proto { tcp, udp } counter
	}

	chain b {
		ip saddr { 10.0.0.1, 10.0.0.9, 10.0.0.10 } counter accept comment "a, {b}"
	}
}
`
	if diff := cmp.Diff(want, NormaliseListing(in)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Render's output is already normal.
	r := Render(representative())
	if diff := cmp.Diff(r, NormaliseListing(r)); diff != "" {
		t.Errorf("NormaliseListing changes Render's output (-render +normalised):\n%s", diff)
	}
}

// TestBuildDesiredErrors: a bad ruleset is refused as a whole, with every
// problem named by where it is.
func TestBuildDesiredErrors(t *testing.T) {
	ok := func() *Ruleset {
		return &Ruleset{Table: "calico", Chains: map[string]*Chain{
			"c": {}, "base": {Base: &Hook{Hook: "input"}},
		}, Sets: map[string]*Set{"s4": {Type: TypeIPv4Addr}, "p": {Type: TypeInetService}}}
	}
	rule := func(r Rule) *Ruleset {
		rs := ok()
		rs.Chains["c"].Rules = []Rule{r}
		return rs
	}
	for _, tc := range []struct {
		rs   *Ruleset
		want string
	}{
		{&Ruleset{}, "table name missing"},
		{func() *Ruleset { rs := ok(); rs.Chains["base"].Base.Hook = "ingress"; return rs }(), `chain "base": unknown hook "ingress"`},
		{func() *Ruleset { rs := ok(); rs.Chains["base"].Base.Policy = "reject"; return rs }(), "policy \"reject\""},
		{func() *Ruleset { rs := ok(); rs.Chains["c"].Name = "d"; return rs }(), `chain "c" has Name "d"`},
		{func() *Ruleset {
			rs := ok()
			rs.Maps = map[string]*Map{"s4": {Type: TypeIfname}}
			return rs
		}(), "share a namespace"},
		{func() *Ruleset {
			rs := ok()
			rs.Maps = map[string]*Map{"m": {Type: TypeIfname, Elements: map[string]Verdict{"eth0": {Kind: VerdictJump, Chain: "nope"}}}}
			return rs
		}(), `map "m" element "eth0": jump nope: no such chain`},
		{func() *Ruleset {
			rs := ok()
			rs.Chains["c"].Rules = []Rule{{Comment: "x"}, {Comment: "x"}}
			return rs
		}(), `chain "c" rule 1: comment "x" is also on rule 0`},
		{rule(Rule{Verdict: Verdict{Kind: VerdictJump, Chain: "base"}}), "it is a base chain"},
		{rule(Rule{Verdict: Verdict{Kind: VerdictMap, Map: "nope", Key: "iifname"}}), "vmap @nope: no such map"},
		{rule(Rule{Match: []Match{{Kind: MatchSAddr, Set: "p"}}}), "set type inet_service is not an address type"},
		{rule(Rule{Match: []Match{{Kind: MatchSAddr, Family: 6, Set: "s4"}}}), "does not fit IPv6"},
		{rule(Rule{Match: []Match{{Kind: MatchSAddr, Prefixes: pfxs("10.0.0.0/8", "fd00::/8")}}}), "fd00::/8 is not IPv4"},
		{rule(Rule{Match: []Match{{Kind: MatchSAddr}}}), "Family missing"},
		{rule(Rule{Match: []Match{{Kind: MatchDPort}}}), "give either Set or Ports"},
		{rule(Rule{Match: []Match{{Kind: MatchDPort, Set: "s4"}}}), "is not inet_service"},
		{rule(Rule{Match: []Match{{Kind: MatchL4Proto, Num: 1}, dport(single(1))}}), "dport: ports after meta l4proto icmp"},
		{rule(Rule{Match: []Match{{Kind: MatchDAddrPort, Set: "s4"}}}), "is not addr . inet_proto . inet_service"},
		{rule(Rule{Match: []Match{{Kind: MatchICMP, Num: 8}}}), "icmp: Family 0"},
		{rule(Rule{Match: []Match{{Kind: MatchCTState, Num: 0x100}}}), "ct state"},
		{rule(Rule{Match: []Match{{Kind: MatchNFProto, Num: 5}}}), "meta nfproto: Num 5"},
		{rule(Rule{Match: []Match{{Kind: MatchL4Proto, Num: 300}}}), "not a protocol number"},
		{rule(Rule{Match: []Match{{Kind: MatchIIFName, Name: "*"}}}), "prefix before *"},
		{rule(Rule{Match: []Match{{Kind: MatchEtherSAddr}}}), "not 6 bytes"},
		{rule(Rule{Match: []Match{{Kind: 99}}}), "unknown match kind 99"},
		{rule(Rule{LogPrefix: strings.Repeat("x", 200)}), "log prefix"},
		{rule(Rule{Comment: strings.Repeat("x", 200)}), "comment"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := buildDesired(tc.rs, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := buildDesired(ok(), nil); err != nil {
		t.Errorf("valid ruleset refused: %v", err)
	}
	if _, err := buildDesired(representative(), nil); err != nil {
		t.Errorf("representative ruleset refused: %v", err)
	}
}
