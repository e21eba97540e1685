package usesdep

import (
	"testing"

	"example.com/rec/brokendep"
)

func TestUses(t *testing.T) { _ = brokendep.F() }
