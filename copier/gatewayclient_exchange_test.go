package copier

import (
	"bytes"
	"testing"
	"time"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
)

// A gateway of an older release announces neither lease flags nor
// exchanges: payload leases go out in the old encoding (counted), and
// exchanges are dropped as having no gateway, without blocking.
func TestGatewayClientOlderGateway(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}, Token: "tok"})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })
	if fc.hello.Caps&(wire.CapLeaseFlags|wire.CapExchange) != wire.CapLeaseFlags|wire.CapExchange {
		t.Fatalf("copier caps %#x lack lease flags or exchanges", fc.hello.Caps)
	}
	g.AddLease(gwTuple(1), time.Minute, LeasePayload)
	fc.expectOps(t, gwOp{t: gwTuple(1), ttl: time.Minute}) // decoded by the old decoder
	waitFor(t, "counted", func() bool { return g.Stats().PayloadRefused.Load() == 1 })
	if g.SendExchange(ExchangeSource{}, "tcp", &protocol.Exchange{}) || g.Stats().ExchangesNoGateway.Load() != 1 {
		t.Fatal("an exchange went to a gateway that does not compare")
	}
}

func TestExchangeFrameCutsToFit(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, wire.MaxFrame)
	x := protocol.Exchange{RequestData: big, OnlineData: big, TargetData: []byte("t"), Same: true, Request: -3}
	f, cut := ExchangeFrame(ExchangeSource{Route: 70000, Copy: 2}, "http", true, &x)
	if !cut || f.Flags != wire.ExchangeHasNoise|wire.ExchangeSame|wire.ExchangeTruncated {
		t.Fatalf("cut %v flags %#x", cut, f.Flags)
	}
	if wire.ExchangeSize(&f) > wire.MaxFrame || len(f.TargetData) != 1 || len(f.OnlineData) != maxExchangePayload*3/8 {
		t.Fatalf("size %d: request %d, online %d, target %d", wire.ExchangeSize(&f), len(f.RequestData), len(f.OnlineData), len(f.TargetData))
	}
	if f.Route != 1<<16-1 || f.Copy != 2 || f.Request != 0 {
		t.Fatalf("clamped fields: route %d copy %d request %d", f.Route, f.Copy, f.Request)
	}
	var back wire.Exchange
	if err := wire.DecodeExchange(wire.AppendExchange(nil, &f), &back); err != nil {
		t.Fatal(err)
	}
	small := protocol.Exchange{OnlineData: []byte("o")}
	if f, cut := ExchangeFrame(ExchangeSource{Noise: true}, "tcp", false, &small); cut || f.Flags != wire.ExchangeNoise {
		t.Fatalf("small exchange: cut %v flags %#x", cut, f.Flags)
	}
}
