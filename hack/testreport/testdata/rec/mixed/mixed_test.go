package mixed

import "testing"

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) {
	t.Log("progress before the failure")
	t.Errorf("routes (-want +got):\n-10.65.0.1/32\n+10.65.0.2/32")
}

func TestSkipsAfterLogging(t *testing.T) {
	t.Log("looked around first")
	t.Skip("privileged test: needs root (creates network namespaces): run it as root")
}

func TestSkipsWithoutReason(t *testing.T) { t.SkipNow() }

func TestKernelLacks(t *testing.T) {
	t.Skipf("kernel lacks feature IPIP: ip link add type ipip: Error: Unknown device type.")
}

func TestSubtests(t *testing.T) {
	t.Run("passes", func(t *testing.T) {})
	t.Run("fails", func(t *testing.T) { t.Fatal("no route to 10.65.0.2") })
	t.Run("skips", func(t *testing.T) { t.Skip("needs bird (Debian package bird2): run make deps") })
}

func TestFailsAfterSubtests(t *testing.T) {
	t.Run("passes", func(t *testing.T) {})
	t.Error("the parent's own check")
}
