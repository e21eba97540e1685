package selector

import (
	"fmt"
	"testing"
)

// benchSelectors are shaped like what the agent sees after policy
// rewriting: a user selector ANDed with a namespace clause.
var benchSelectors = []string{
	`all()`,
	`app == "web"`,
	`(app == "web" && tier != "db") && projectcalico.org/namespace == "prod"`,
	`role in {"api", "frontend", "web", "worker"} && !has(quarantine)`,
	`pcns.team in {"a","b","c","d","e","f","g","h","i","j","k","l"} || version starts with "v2."`,
	`(has(a) || has(b) || has(c)) && (env == "prod" || env == "staging") && owner not in {"x"}`,
}

func benchLabels() map[string]string {
	l := map[string]string{
		"app": "web", "tier": "frontend", "role": "web", "env": "prod", "version": "v2.3.1",
		"projectcalico.org/namespace":      "prod",
		"projectcalico.org/orchestrator":   "k8s",
		"projectcalico.org/serviceaccount": "default",
		"pcns.team":                        "k",
	}
	for i := range 10 {
		l[fmt.Sprintf("extra%d", i)] = "v"
	}
	return l
}

func BenchmarkEvaluate(b *testing.B) {
	labels := benchLabels()
	for i, s := range benchSelectors {
		sel, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint(i), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sel.Evaluate(labels)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for i, s := range benchSelectors {
		b.Run(fmt.Sprint(i), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
