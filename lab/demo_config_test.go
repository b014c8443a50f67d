package lab

import (
	"net/netip"
	"testing"

	"github.com/replaygw/replaygw/configs"
)

// The demo's config must pass the product's strict loader with the values
// the lab needs.
func TestDemoConfigParses(t *testing.T) {
	l := &Lab{Name: "rgLcfg1-1", Pool: DefaultPool, Pool6: DefaultPool6}
	dc := NewDemoConfig(l)
	if len(dc.Token) != 32 || dc.Token == NewDemoConfig(l).Token {
		t.Errorf("token %q is not random hex", dc.Token)
	}
	gc, err := configs.Parse([]byte(dc.GatewayTOML()), "gateway.toml")
	if err != nil {
		t.Fatalf("%v\n%s", err, dc.GatewayTOML())
	}
	cc, err := configs.Parse([]byte(dc.CopierTOML()), "copier.toml")
	if err != nil {
		t.Fatalf("%v\n%s", err, dc.CopierTOML())
	}
	// One role per file: both sections in one file would mean appliance mode.
	if gc.Gateway == nil || gc.Copy != nil || cc.Copy == nil || cc.Gateway != nil {
		t.Fatal("each file must hold exactly its role's section")
	}
	g, cp := gc.Gateway, cc.Copy
	if g.TUN != "rgw0" || g.Ingress != Iface || g.Listen != ":36524" || g.Secret != dc.Token {
		t.Errorf("gateway %+v", g)
	}
	if len(g.PoolPrefixes) != 1 || g.PoolPrefixes[0] != DefaultPool {
		t.Errorf("pools %v", g.PoolPrefixes)
	}
	if cp.Interface != Iface || len(cp.Gateways) != 1 || cp.Gateways[0] != "10.77.0.40:36524" || cp.Secret != dc.Token {
		t.Errorf("copy %+v", cp)
	}
	if cp.ClientPrefix != DefaultPool {
		t.Errorf("client pool %v", cp.ClientPrefix)
	}
	if len(cp.Routes) != 1 || cp.Routes[0].FromAddr != netip.MustParseAddrPort("10.77.0.20:80") || cp.Routes[0].ToAddr != netip.MustParseAddrPort("10.77.0.30:80") {
		t.Errorf("routes %+v", cp.Routes)
	}
	if gc.Metrics.Listen != DemoMetricsListen || cc.Metrics.Listen != DemoMetricsListen {
		t.Errorf("metrics %q %q", gc.Metrics.Listen, cc.Metrics.Listen)
	}
}
