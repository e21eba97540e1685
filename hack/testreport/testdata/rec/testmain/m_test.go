package testmain

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	fmt.Println("FAIL: the root network namespace changed during the tests")
	if code == 0 {
		code = 1
	}
	os.Exit(code)
}

func TestFine(t *testing.T) {}
