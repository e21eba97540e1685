package birdcfg

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	v3 "github.com/gocalico/calico/api/v3"
)

// FuzzRender builds resources from arbitrary field values (as anyone who
// can write to etcd could) and checks that Render never panics, is
// deterministic, keeps every problem on one line, and renders a config BIRD
// accepts.
func FuzzRender(f *testing.F) {
	f.Add("node-a", "10.99.0.1/24", "fd00:99::1/64", "10.99.0.2/24", "10.0.0.1", uint32(65001), "has(rr)", "10.65.0.0/16", uint16(179), "224.0.0.1", "cali", "pw", "Info", int64(90))
	f.Add("a\"b\nc", "10.99.0.300", "::ffff:10.0.0.1", "fe80::1", "[fd00::1]:0", uint32(0), "rack ==", "10.65.0.0/33", uint16(0), "x", "ta\"p", "p\"w", "Loud", int64(-5))
	f.Add("n", "1.2.3.4", "", "1.2.3.4", "1.2.3.5:1", uint32(4294967295), "all()", "fd00::/8", uint16(65535), "1.2.3.4", "", "", "Debug", int64(1<<40))
	f.Fuzz(func(t *testing.T, name, a4, a6, otherAddr, peerIP string, asn uint32, sel, cidr string, port uint16, cluster, ifPrefix, pw, level string, secs int64) {
		me := v3.NewNode()
		me.Metadata.Name = name
		me.Metadata.Labels = map[string]string{"rr": sel}
		as := v3.ASNumber(asn)
		me.Spec.BGP = &v3.NodeBGPSpec{IPv4Address: a4, IPv6Address: a6, ASNumber: &as, RouteReflectorClusterID: cluster}
		other := v3.NewNode()
		other.Metadata.Name = "other-" + name
		other.Metadata.Labels = map[string]string{"rr": "true"}
		other.Spec.BGP = &v3.NodeBGPSpec{IPv4Address: otherAddr, IPv6Address: otherAddr}
		d := v3.NewDuration(time.Duration(secs) * time.Second)
		ttl := uint8(asn)
		n := int32(asn)
		p1 := v3.NewBGPPeer()
		p1.Metadata.Name = "p1"
		p1.Spec = v3.BGPPeerSpec{PeerIP: peerIP, ASNumber: v3.ASNumber(asn / 2), KeepaliveTime: d, MaxRestartTime: d, TTLSecurity: &ttl, NumAllowedLocalASNumbers: &n,
			Password: &v3.BGPPassword{SecretKeyRef: &v3.SecretKeySelector{Name: pw, Key: pw}}, LocalASNumber: &as, KeepOriginalNextHop: asn%2 == 0}
		p2 := v3.NewBGPPeer()
		p2.Metadata.Name = "p2"
		p2.Spec = v3.BGPPeerSpec{NodeSelector: sel, PeerSelector: sel, SourceAddress: v3.SourceAddress(level)}
		pool := v3.NewIPPool()
		pool.Metadata.Name = cidr
		pool.Spec.CIDR = cidr
		pool.Spec.VXLANMode = v3.EncapMode(level)
		meshOn := asn%3 != 0
		bind := v3.BindMode(level)
		if asn%5 == 0 {
			bind = v3.BindModeNodeIP
		}
		global := &v3.BGPConfigurationSpec{LogSeverityScreen: level, ListenPort: port, NodeToNodeMeshEnabled: &meshOn, BindMode: &bind,
			IgnoredInterfaces: []string{ifPrefix}, NodeMeshPassword: &v3.BGPPassword{SecretKeyRef: &v3.SecretKeySelector{Name: pw, Key: "k"}}, NodeMeshMaxRestartTime: d}
		in := &Input{
			NodeName: name, Global: global,
			NodeConfigs: map[string]*v3.BGPConfigurationSpec{other.Metadata.Name: {ListenPort: port / 2}},
			Nodes:       []*v3.Node{me, other, nil}, Peers: []*v3.BGPPeer{p1, p2, nil}, Pools: []*v3.IPPool{pool, nil},
		}
		// Blocks as any prefix (valid or not, in the pool or not, the
		// pool itself), as a View could hand them over.
		if b, err := netip.ParsePrefix(cidr); err == nil {
			in.Blocks = []netip.Prefix{b, b.Masked(), netip.PrefixFrom(b.Addr(), min(b.Addr().BitLen(), b.Bits()+int(asn%8))).Masked(), {}}
		}
		opt := Options{InterfacePrefixes: []string{ifPrefix, "tap"}, RouteProtocol: int(port),
			Password: func(s, k string) (string, error) { return s + k, nil }}
		res := Render(in, opt)
		if again := Render(in, opt); again.Config != res.Config {
			t.Fatal("two renders differ")
		}
		for _, p := range res.Problems {
			if strings.ContainsAny(p, "\n") {
				t.Errorf("problem with a newline: %q", p)
			}
		}
		if _, err := os.Stat(birdPath); err == nil {
			birdParse(t, res.Config)
		}
	})
}
