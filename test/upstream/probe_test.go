package upstream

import (
	"testing"

	"github.com/projectcalico/calico/libcalico-go/lib/apiconfig"
	"github.com/projectcalico/calico/libcalico-go/lib/clientv3"
)

func TestProbe(t *testing.T) {
	cfg := apiconfig.NewCalicoAPIConfig()
	cfg.Spec.DatastoreType = apiconfig.EtcdV3
	cfg.Spec.EtcdEndpoints = "http://127.0.0.1:1"
	_, err := clientv3.New(*cfg)
	t.Log(err)
}
