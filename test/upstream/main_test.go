package upstream

import (
	"os"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestMain(m *testing.M) {
	// libcalico-go logs every tier it creates at Info through logrus.
	logrus.SetLevel(logrus.WarnLevel)
	os.Exit(m.Run())
}
