package copier

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/wire"
)

type nopSender struct{}

func (nopSender) Send([]byte) error { return nil }

// The gateway client that New builds hands its records to the engine: the
// sink is part of the construction, not set afterwards.
func TestNewWiresGatewayRecordsToTheEngine(t *testing.T) {
	srv, err := gateway.NewServer(gateway.ServerConfig{Token: "tok"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := New(CopierConfig{
		Engine: Config{Routes: []Route{{
			From: netip.MustParseAddrPort("127.0.0.1:1"), To: netip.MustParseAddrPort("127.0.0.2:1")}}, Workers: 1},
		Gateways: GatewayConfig{Addrs: []string{ln.Addr().String()}, Token: "tok", MinBackoff: 5 * time.Millisecond},
	}, Options{Sender: nopSender{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Gateways() == nil {
		t.Fatal("no gateway client without Options.Leases")
	}
	waitFor(t, "connected", func() bool { return c.Gateways().Connected() == 1 })
	tp := wire.Tuple{Client: netip.MustParseAddrPort("10.88.0.1:40000"), Target: netip.MustParseAddrPort("127.0.0.2:1")}
	c.Gateways().AddLease(tp, time.Minute, 0)
	waitFor(t, "route", func() bool { return srv.Leases() == 1 })
	srv.Deliver(&wire.Record{Tuple: tp, Flags: wire.FlagSYN | wire.FlagACK})
	st := c.Engine().Stats()
	waitFor(t, "the record at the engine", func() bool { return st.RecordsIn.Load() == 1 })
	// No session owns the tuple: the engine counted it as unknown, which
	// only the engine's own HandleRecord does.
	waitFor(t, "unknown record", func() bool { return st.RecordsUnknown.Load() == 1 })
}

// With Options.Leases (the appliance) there is no gateway client.
func TestNewWithLeasesHasNoGatewayClient(t *testing.T) {
	c, err := New(CopierConfig{Engine: Config{Routes: []Route{{
		From: netip.MustParseAddrPort("127.0.0.1:1"), To: netip.MustParseAddrPort("127.0.0.2:1")}}, Workers: 1}},
		Options{Sender: nopSender{}, Leases: nopLeases{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Gateways() != nil {
		t.Fatal("a gateway client next to Options.Leases")
	}
}

type nopLeases struct{}

func (nopLeases) AddLease(wire.Tuple, time.Duration, LeaseFlags) bool { return true }
func (nopLeases) ReleaseLease(wire.Tuple)                             {}
