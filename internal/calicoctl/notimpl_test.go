package calicoctl_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	encapWhy = "(no IPIP or VXLAN tunnels yet (issue 18): routes between hosts come from BGP)"
	natWhy   = "(no outgoing NAT yet (issue 18))"
)

// TestWarnsNotImplemented: create, apply, replace and patch write what
// they are given, as upstream does, and warn on stderr about each field
// written that this version does not act on; nothing for defaults, for
// calico-node's default pool, or for what was not written.
func TestWarnsNotImplemented(t *testing.T) {
	ctl, _ := newCtl(t)
	const p1 = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: p1}
spec: {cidr: 10.1.0.0/16, vxlanMode: Always, natOutgoing: true}
`
	steps := []struct {
		name           string
		stdin          string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"create", p1, []string{"create", "-f", "-"}, 0, "Successfully created 1 'IPPool' resource(s)\n",
			`Warning: IPPool "p1": spec.vxlanMode "Always" is not implemented by this version; stored but not acted on ` + encapWhy + "\n" +
				`Warning: IPPool "p1": spec.natOutgoing true is not implemented by this version; stored but not acted on ` + natWhy + "\n"},
		{"create fails: nothing written, no warning", p1, []string{"create", "-f", "-"}, 1, "",
			"Failed to create 'IPPool' resource: [resource already exists: IPPool(p1)]\n"},
		{"skipped: nothing written, no warning", p1, []string{"create", "-f", "-", "--skip-exists"}, 0,
			"Successfully created 0 'IPPool' resource(s), skipped 1 that already existed\n", ""},
		{"apply", strings.Replace(p1, "natOutgoing: true", "natOutgoing: false", 1), []string{"apply", "-f", "-"}, 0,
			"Successfully applied 1 'IPPool' resource(s)\n",
			`Warning: IPPool "p1": spec.vxlanMode "Always" is not implemented by this version; stored but not acted on ` + encapWhy + "\n"},
		{"replace with the defaults", strings.Replace(p1, "vxlanMode: Always, natOutgoing: true", "vxlanMode: Never", 1),
			[]string{"replace", "-f", "-"}, 0, "Successfully replaced 1 'IPPool' resource(s)\n", ""},
		{"patch", "", []string{"patch", "ippool", "p1", "-p", `{"spec":{"ipipMode":"CrossSubnet"}}`}, 0,
			"Successfully patched 1 'IPPool' resource(s)\n",
			`Warning: IPPool "p1": spec.ipipMode "CrossSubnet" is not implemented by this version; stored but not acted on ` + encapWhy + "\n"},
		{"calico-node's default pool", `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 192.168.0.0/16, natOutgoing: true}
`, []string{"apply", "-f", "-"}, 0, "Successfully applied 1 'IPPool' resource(s)\n", ""},
		{"a whole kind, and a rule", `apiVersion: projectcalico.org/v3
kind: KubeControllersConfiguration
metadata: {name: default}
spec: {controllers: {}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: web}
spec:
  ingress:
  - {action: Allow, protocol: TCP, http: {methods: [GET]}}
`, []string{"apply", "-f", "-"}, 0, "Successfully applied 2 resource(s)\n",
			`Warning: KubeControllersConfiguration "default": the kind KubeControllersConfiguration is not implemented by this version; ` +
				"stored but not acted on (no kube-controllers: nothing reads this configuration)\n" +
				`Warning: GlobalNetworkPolicy "web": spec.ingress[0].http {"methods":["GET"]} is not implemented by this version; ` +
				"stored but not acted on (no layer-7 (HTTP) enforcement: a rule with an http match is left out, so it matches nothing)\n"},
	}
	for _, st := range steps {
		res := ctl.Run(t, st.stdin, st.args...)
		if res.Code != st.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", st.name, res.Code, st.code, res.Stderr)
		}
		if diff := cmp.Diff(st.stdout, res.Stdout); diff != "" {
			t.Errorf("%s: stdout (-want +got):\n%s", st.name, diff)
		}
		if diff := cmp.Diff(st.stderr, res.Stderr); diff != "" {
			t.Errorf("%s: stderr (-want +got):\n%s", st.name, diff)
		}
	}
	// What was warned about was written.
	out := ctl.MustRun(t, "", "get", "ippool", "p1", "-o", "yaml").Stdout
	for _, want := range []string{"ipipMode: CrossSubnet", "vxlanMode: Never"} {
		if !strings.Contains(out, want) {
			t.Errorf("stored pool lacks %q:\n%s", want, out)
		}
	}
}
