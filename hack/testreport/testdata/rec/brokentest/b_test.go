package brokentest

import "testing"

func TestX(t *testing.T) { undefinedHelper(t) }
