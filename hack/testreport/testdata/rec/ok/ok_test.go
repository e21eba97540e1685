package ok

import "testing"

func TestOne(t *testing.T) { t.Log("a log line of a passing test") }

func TestTable(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {})
	}
}
