package notimpl

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/gocalico/calico/api/v3"
)

var update = flag.Bool("update", false, "rewrite docs/not-implemented.md from the list")

const docPath = "../../docs/not-implemented.md"

const docHeader = `# Not implemented yet

This version accepts every field of upstream Calico's ` + "`projectcalico.org/v3`" + `
resources and stores it exactly as upstream does, so that upstream tools
read the same datastore. Some of those fields, and a few whole kinds, are
stored but not acted on yet. They are listed here (generated from
` + "`internal/notimpl`" + `, the one list in the code; ` + "`go test ./internal/notimpl -update`" + `
rewrites this page), and:

- ` + "`calicoctl create`, `apply`, `replace` and `patch`" + ` write them anyway, as
  upstream would, and print a warning on standard error for each one set
  to a value that needs it:

  ` + "```text" + `
  Warning: IPPool "p1": spec.vxlanMode "Always" is not implemented by this version; stored but not acted on (no IPIP or VXLAN tunnels yet (issue 18): routes between hosts come from BGP)
  ` + "```" + `

- calico-node's agent (IP pools, FelixConfigurations, endpoints, policies)
  and its BGP side (Nodes, BGPConfigurations, BGPPeers) log each at Warn,
  once per object and field, and again when its value changes. Kinds
  neither follows (staged policies, KubeControllersConfiguration,
  BGPFilter) are warned about by calicoctl only.

An unset field never warns; a set field warns unless its value is one of
those listed as needing none (the default, or what this version does
anyway). calico-node creates its default pools ` + "(`default-ipv4-ippool`)" + `
with ` + "`natOutgoing: true`" + ` as upstream does: that pool does not warn, but
outgoing NAT is not done for it either, yet.

The list shrinks as features land.
`

// render writes the page: one table per kind, in the list's order.
func render() string {
	var b strings.Builder
	b.WriteString(docHeader)
	var kinds []string
	byKind := map[string][]Field{}
	for _, f := range fields {
		if _, ok := byKind[f.Kind]; !ok {
			kinds = append(kinds, f.Kind)
		}
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	cell := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n## %s\n\n", k)
		b.WriteString("| field | no warning for | why |\n| --- | --- | --- |\n")
		for _, f := range byKind[k] {
			what := "`" + f.Path + "`"
			if f.Path == "" {
				what = "the whole kind"
				if f.What != "" {
					what = f.What
				}
			}
			if f.Scope != "" && f.Path != "" {
				what += " (" + f.Scope + ")"
			}
			quiet := "unset"
			for _, q := range f.Quiet {
				quiet += ", `" + q + "`"
			}
			if f.Path == "" {
				quiet = "-"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(what), cell(quiet), cell(f.Why))
		}
	}
	b.WriteString("\n## Other stored values\n\n| value | field | no warning for | why |\n| --- | --- | --- | --- |\n")
	for _, rf := range rawFields {
		quiet := "unset"
		for _, q := range rf.Quiet {
			quiet += ", `" + q + "`"
		}
		fmt.Fprintf(&b, "| %s (`%s`) | `%s` | %s | %s |\n", rawKinds[rf.Key], rf.Key, rf.Field, cell(quiet), cell(rf.Why))
	}
	b.WriteString("\n`calicoctl ipam show --show-configuration` warns about these.\n")
	return b.String()
}

// TestDocListsEveryEntry: docs/not-implemented.md is the list as it is.
func TestDocListsEveryEntry(t *testing.T) {
	got := render()
	if *update {
		if err := os.WriteFile(docPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (go test ./internal/notimpl -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s is not the list (-doc +list; go test ./internal/notimpl -update rewrites it):\n%s", filepath.Base(docPath), diff)
	}
	// Every entry appears, whatever the layout.
	for _, f := range fields {
		if f.Path != "" && !strings.Contains(string(want), "`"+f.Path+"`") {
			t.Errorf("%s %s is not in the doc", f.Kind, f.Path)
		}
	}
	for _, k := range v3.Kinds() {
		listed := false
		for _, f := range fields {
			listed = listed || f.Kind == k.Kind
		}
		if listed && !strings.Contains(string(want), "## "+k.Kind+"\n") {
			t.Errorf("%s has no section in the doc", k.Kind)
		}
	}
}
