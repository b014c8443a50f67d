package blackhole

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/wire"
	"github.com/vishvananda/netns"
)

// Namespace helpers for the root-only gateway test. Every name starts with
// rgB and the test pid; everything is removed in t.Cleanup, also on failure.

var nsSeq atomic.Int32

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// onThreadInNS runs fn on a locked OS thread switched into namespace ns and
// returns its result on the channel. The thread is never unlocked, so it
// dies with the goroutine and no other goroutine inherits the namespace.
func onThreadInNS(ns string, fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return done
}

func inNS(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := <-onThreadInNS(ns, fn); err != nil {
		t.Fatalf("in netns %s: %v", ns, err)
	}
}

// gwLab is two namespaces joined by a veth: tgt (the target host) routes
// the pool via gw (the assistant host).
type gwLab struct {
	gw, tgt, vethG, vethT, tun string
	tgtIP                      netip.Addr
}

func newGWLab(t *testing.T, pool string) *gwLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	n := nsSeq.Add(1)
	id := fmt.Sprintf("%d%c", os.Getpid()%1000000, 'a'+rune(n%26))
	l := &gwLab{gw: "rgB-" + id + "-gw", tgt: "rgB-" + id + "-tgt", vethG: "rgB" + id + "g", vethT: "rgB" + id + "t", tun: "rgB" + id + "u"}
	for _, ns := range []string{l.gw, l.tgt} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	sub := 100 + int(n)%100
	l.tgtIP = netip.MustParseAddr(fmt.Sprintf("172.30.%d.2", sub))
	run(t, "ip", "-n", l.gw, "link", "add", l.vethG, "type", "veth", "peer", "name", l.vethT, "netns", l.tgt)
	run(t, "ip", "-n", l.gw, "addr", "add", fmt.Sprintf("172.30.%d.1/30", sub), "dev", l.vethG)
	run(t, "ip", "-n", l.tgt, "addr", "add", l.tgtIP.String()+"/30", "dev", l.vethT)
	for _, ns := range []string{l.gw, l.tgt} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", l.gw, "link", "set", l.vethG, "up")
	run(t, "ip", "-n", l.tgt, "link", "set", l.vethT, "up")
	run(t, "ip", "-n", l.tgt, "route", "add", pool, "via", fmt.Sprintf("172.30.%d.1", sub))
	return l
}

// TestGatewayNetns runs the assembled gateway in a namespace: a real
// GatewayClient registers a route, the target namespace opens TCP
// connections to the pool, and only the registered session's segments come
// back to the copier.
func TestGatewayNetns(t *testing.T) {
	const pool = "10.88.7.0/24"
	l := newGWLab(t, pool)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // control channel on the root loopback
	if err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Gateway{
		TUN: l.tun, Pools: []string{pool}, PoolPrefixes: []netip.Prefix{netip.MustParsePrefix(pool)},
		Ingress: l.vethG, Redirect: "auto", Queues: 2, Secret: "s3cret", PayloadCap: 32,
		HoldEarly: configs.Duration{Duration: time.Second},
	}
	var g *Gateway
	inNS(t, l.gw, func() (err error) {
		g, err = newGateway(cfg, slog.New(slog.DiscardHandler), ln)
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := onThreadInNS(l.gw, func() error { return g.Run(ctx) })
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
	mine := wire.Tuple{Client: dst, Target: netip.AddrPortFrom(l.tgtIP, 40001)}
	if !cl.AddRoute(mine, time.Minute) {
		t.Fatal("AddRoute false")
	}
	for g.Server().Routes() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("route not registered")
		}
		time.Sleep(2 * time.Millisecond)
	}
	// The target opens two connections to pool addresses: one registered,
	// one not. The black hole never answers; the dials time out.
	for _, port := range []int{40001, 40002} {
		inNS(t, l.tgt, func() error {
			d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: l.tgtIP.AsSlice(), Port: port}}
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
	if !names["gateway_records_routed"] || len(names) < len(st.Server.Counters())+3 {
		t.Fatalf("counters %v", names)
	}
	t.Logf("redirect %s, records to copier %d, unrouted %d", g.Tunnel().RedirectMode(), len(got), st.Server.Unrouted.Load())
}
