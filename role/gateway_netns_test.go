package role

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/lab/netns"
	"github.com/replaygw/replaygw/wire"
)

// TestGatewayNetns runs the assembled gateway in a namespace: a real
// GatewayClient takes a lease, the target namespace opens TCP
// connections to the pool, and only the registered session's segments come
// back to the copier.
func TestGatewayNetns(t *testing.T) {
	const pool = "10.88.7.0/24"
	l := netns.NewPair(t, "rgB", pool)
	tun, tgtIP := l.Link("u"), netip.MustParseAddr(l.TgtIP4)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // control channel on the root loopback
	if err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Gateway{
		TUN: tun, Pools: []string{pool}, PoolPrefixes: []netip.Prefix{netip.MustParsePrefix(pool)},
		Ingress: l.VethG, Redirect: "auto", Queues: 2, Secret: "s3cret", PayloadCap: 32,
		HoldEarly: configs.Duration{Duration: time.Second},
	}
	var g *Gateway
	netns.InNS(t, l.GW, func() (err error) {
		g, err = openGateway(cfg, slog.New(slog.DiscardHandler), ln, GatewayOptions{})
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := netns.Go(l.GW, func() error { return g.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})

	var mu sync.Mutex
	var got []wire.Record
	cl := copier.NewGatewayClient(copier.GatewayConfig{Addrs: []string{ln.Addr().String()}, Token: "s3cret", PayloadCap: 16,
		OnRecord: func(r *wire.Record) {
			mu.Lock()
			got = append(got, *r)
			mu.Unlock()
		}})
	t.Cleanup(func() { cl.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for cl.Connected() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the copier did not connect")
		}
		time.Sleep(5 * time.Millisecond)
	}

	dst := netip.MustParseAddrPort("10.88.7.5:80")
	mine := wire.Tuple{Client: dst, Target: netip.AddrPortFrom(tgtIP, 40001)}
	if !cl.AddLease(mine, time.Minute, 0) {
		t.Fatal("AddLease false")
	}
	for g.Server().Leases() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("lease not taken")
		}
		time.Sleep(2 * time.Millisecond)
	}
	// The target opens two connections to pool addresses: one registered,
	// one not. The black hole never answers; the dials time out.
	for _, port := range []int{40001, 40002} {
		netns.InNS(t, l.Tgt, func() error {
			d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: tgtIP.AsSlice(), Port: port}}
			c, err := d.Dial("tcp", dst.String())
			if err == nil {
				c.Close()
				return fmt.Errorf("connection to the black hole succeeded")
			}
			return nil
		})
	}
	st := g.Stats()
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 1 && st.Server.Unrouted.Load() >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copier got %d records, unrouted %d; counters %v", n, st.Server.Unrouted.Load(), st.Counters())
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range got {
		if r.Tuple != mine || !r.Has(wire.FlagSYN) || r.Has(wire.FlagACK) {
			t.Fatalf("copier got %+v, want the SYN of %v", r, mine)
		}
	}
	if st.Stack.WritesAttempted.Load() != 0 {
		t.Fatalf("the black hole tried to write %d packets", st.Stack.WritesAttempted.Load())
	}
	names := map[string]bool{}
	for _, c := range st.Counters() {
		names[c.Name] = true
	}
	if !names["gateway_records_routed_total"] || !names["tun_absorbed_total"] || len(st.Counters()) != len(st.Server.Counters())+len(st.Stack.Counters()) {
		t.Fatalf("counters %v", names)
	}
	t.Logf("redirect %s, records to copier %d, unrouted %d", g.Tunnel().RedirectMode(), len(got), st.Server.Unrouted.Load())
}
