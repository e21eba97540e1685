package parallel

import "testing"

func TestParallel(t *testing.T) {
	for _, name := range []string{"x", "y", "z"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Logf("checking %s", name)
			if name == "y" {
				t.Errorf("%s failed", name)
			}
		})
	}
}
