package role

import (
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replaygw/replaygw/compare/store"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/protocol"
)

// End to end over a real control connection on loopback: the copier's
// engine sink (exchangeSink, as OpenCopier wires it) hands the compared
// route's exchanges - main and noise sessions - to the gateway client,
// the gateway server gives them to the compare sink, and the results are
// in the store: the compared route's only, noise classified.
func TestCompareOverControlChannel(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	sink, err := OpenCompareSink(testCompareConfig(t), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.NewServer(gateway.ServerConfig{Token: "tok", OnExchange: sink.Exchange}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	f := false
	cp := &configs.Copy{Routes: []configs.Route{
		{Compared: true, NoiseAddr: netip.MustParseAddrPort("10.0.0.31:80")},
		{Compared: false, Compare: &f},
	}}
	cc := CopierConfig(cp)
	gc := copier.NewGatewayClient(copier.GatewayConfig{Addrs: []string{ln.Addr().String()}, Token: "tok", NoiseRoutes: cc.Gateways.NoiseRoutes,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	defer gc.Close()
	var gw atomic.Pointer[copier.GatewayClient]
	gw.Store(gc)
	on := exchangeSink(cp, nil, &gw)
	if on == nil || cc.Engine.Routes[0].Noise != cp.Routes[0].NoiseAddr {
		t.Fatal("no exchange sink, or the noise target is not passed to the engine")
	}
	deadline := time.Now().Add(5 * time.Second)
	for gc.Connected() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	const n = 200
	for i := 0; i < n; i++ {
		src := copier.ExchangeSource{Route: 0, Conn: uint64(i / 10), Client: netip.MustParseAddrPort("192.0.2.1:5000"), Target: netip.MustParseAddrPort("10.0.0.30:80")}
		x := protocol.Exchange{Request: i % 10, Kind: "GET", OnlineData: []byte("same"), TargetData: []byte("same"), TargetSent: 1, TargetLast: 1 + 1e6}
		if i%4 == 0 {
			x.TargetData = []byte("diff") // a target difference
		}
		if i%4 == 1 {
			x.TargetData = []byte("sAme") // ... and one production shows against the noise target too
		}
		on(src, &x)
		ns := src
		ns.Noise = true
		nx := x
		nx.TargetData = []byte("same")
		if i%4 == 1 {
			nx.TargetData = []byte("sAme")
		}
		on(ns, &nx)
		other := src
		other.Route = 1 // not compared: never sent
		on(other, &x)
	}
	deadline = time.Now().Add(10 * time.Second)
	for sink.Stats().Compared.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := store.ReadCounts(sink.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Exchanges != n || c.Differing != n/4 || c.WithNoise != n/4 || c.Dropped != 0 {
		t.Fatalf("counts %+v, want %d exchanges, %d differing, %d with noise", c, n, n/4, n/4)
	}
	var lines int
	if err := store.Scan(sink.Dir(), func(r store.Result) error {
		lines++
		if r.Protocol != "tcp" || r.TargetMs != 1 {
			t.Errorf("result %+v", r)
		}
		return nil
	}); err != nil || lines != n {
		t.Fatalf("%d result lines, %v", lines, err)
	}
	if st := gc.Stats(); st.ExchangesSent.Load() != 2*n || srv.Stats().ExchangesIn.Load() != 2*n {
		t.Fatalf("sent %d, gateway got %d, want %d", st.ExchangesSent.Load(), srv.Stats().ExchangesIn.Load(), 2*n)
	}
}
