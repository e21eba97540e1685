package agent

import "testing"

func TestParseRuleComment(t *testing.T) {
	tests := []struct {
		in   string
		want ruleRef
		ok   bool
	}{
		{"g/g-default.allow-dns:eg:0", ruleRef{kind: "GlobalNetworkPolicy", name: "default.allow-dns", dir: "egress", rule: "0"}, true},
		{"n/n-prod.default.web:in:12.3", ruleRef{kind: "NetworkPolicy", ns: "prod", name: "default.web", dir: "ingress", rule: "12"}, true},
		{"pr/kns.default:in:0", ruleRef{kind: "Profile", name: "kns.default", dir: "ingress", rule: "0"}, true},
		{"default-deny", ruleRef{}, false},
		{"tier-end:default", ruleRef{}, false},
		{"g/g-x:sideways:0", ruleRef{}, false},
		{"n/n-nodot:in:0", ruleRef{}, false},
		{"g/g-x:in:", ruleRef{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRuleComment(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRuleComment(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
