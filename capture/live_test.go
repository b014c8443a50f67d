package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/songgao/water"
	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/lab/netns"
)

type sink struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (s *sink) handle(pkt []byte, ts time.Time) {
	if ts.IsZero() || time.Since(ts) > time.Minute {
		panic("bad capture timestamp")
	}
	s.mu.Lock()
	s.pkts = append(s.pkts, append([]byte(nil), pkt...))
	s.mu.Unlock()
}

func (s *sink) waitFor(n int, d time.Duration) [][]byte {
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		got := len(s.pkts)
		s.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // stragglers that should not be there
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.pkts...)
}

func openLiveIn(t *testing.T, ns string, cfg LiveConfig) *Live {
	t.Helper()
	var l *Live
	netns.InNS(t, ns, func() (err error) {
		l, err = OpenLive(cfg)
		return err
	})
	t.Cleanup(func() { l.Close() })
	return l
}

func runLive(t *testing.T, l *Live, s *sink) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx, s.handle) }()
	return func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
}

func TestLiveCapture(t *testing.T) {
	// The host's own frames are skipped by the kernel where it can
	// (Linux 6.9 for fanout groups) and else dropped by the filter's first
	// test: both paths must keep them out.
	for _, filterOnly := range []bool{false, true} {
		name := "kernel-skips-outgoing"
		if filterOnly {
			name = "filter-drops-outgoing"
		}
		t.Run(name, func(t *testing.T) { testLiveCapture(t, filterOnly) })
	}
}

func testLiveCapture(t *testing.T, filterOnly bool) {
	lab := newVethLab(t)
	ap := netip.MustParseAddrPort
	svc4, svc6 := ap("10.251.0.2:8080"), ap("[fd00:251::2]:8080")
	cli4, cli6 := ap("10.251.0.1:40000"), ap("[fd00:251::1]:40000")
	filter := Filter{Dst: []netip.AddrPort{svc4, svc6}}

	onB := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Fanout: 2, Filter: filter, filterOnlyOutgoing: filterOnly})
	onA := openLiveIn(t, lab.nsA, LiveConfig{Interface: lab.vA, Fanout: 1, Filter: filter, filterOnlyOutgoing: filterOnly})
	if filterOnly && (onB.kernelSkipsOutgoing || onA.kernelSkipsOutgoing) {
		t.Fatal("kernel skip of outgoing frames set although the test asked for the filter alone")
	}
	if !filterOnly && kernelAtLeast(t, 6, 9) && (!onB.kernelSkipsOutgoing || !onA.kernelSkipsOutgoing) {
		t.Fatalf("kernel skip of outgoing frames not in effect (fanout %v, single %v) on a kernel that has it",
			onB.kernelSkipsOutgoing, onA.kernelSkipsOutgoing)
	}
	sinkB, sinkA := &sink{}, &sink{}
	stopB := runLive(t, onB, sinkB)
	stopA := runLive(t, onA, sinkA)

	in4 := tcpPacket(cli4, svc4, "in-v4", 0)
	in6 := tcpPacket(cli6, svc6, "in-v6", 0)
	inVLAN := tcpPacket(cli4, svc4, "in-vlan", 0)
	big := tcpPacket(cli4, svc4, string(bytes.Repeat([]byte("x"), 1400)), 0)
	injA := newInjector(t, lab.nsA, lab.vA)
	injA.send(t, ethernet(in4, 0))
	injA.send(t, ethernet(tcpPacket(cli4, ap("10.251.0.2:9090"), "wrong-port", 0), 0))
	injA.send(t, ethernet(tcpPacket(cli4, ap("10.251.0.3:8080"), "wrong-addr", 0), 0))
	injA.send(t, ethernet(tcpPacket(cli6, ap("[fd00:251::2]:8081"), "wrong-port6", 0), 0))
	injA.send(t, ethernet(in6, 0))
	injA.send(t, ethernet(inVLAN, 12))
	injA.send(t, ethernet(big, 0))
	injA.send(t, arpFrame())
	// B sends a packet for the service itself: outgoing on B, so B's capture
	// must not see it, while A (where it arrives) does.
	own := tcpPacket(cli4, svc4, "own-outgoing", 0)
	injB := newInjector(t, lab.nsB, lab.vB)
	injB.send(t, ethernet(own, 0))

	want := [][]byte{in4, in6, inVLAN, big}
	got := sinkB.waitFor(len(want), 3*time.Second)
	gotA := sinkA.waitFor(1, 2*time.Second)
	if err := stopB(); err != nil {
		t.Fatalf("Run on B: %v", err)
	}
	if err := stopA(); err != nil {
		t.Fatalf("Run on A: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("B captured %d packets, want %d: %q", len(got), len(want), got)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || bytes.Equal(g, w)
		}
		if !found {
			t.Errorf("packet %q not captured with its exact bytes", w[len(w)-12:])
		}
	}
	if len(gotA) != 1 || !bytes.Equal(gotA[0], own) {
		t.Fatalf("A captured %q, want only the packet B sent", gotA)
	}
	st := onB.Stats()
	if st.Packets.Load() != uint64(len(want)) || st.KernelPackets.Load() < uint64(len(want)) || st.KernelDrops.Load() != 0 {
		t.Fatalf("stats: packets %d kernel %d drops %d", st.Packets.Load(), st.KernelPackets.Load(), st.KernelDrops.Load())
	}
	var sum int
	for _, w := range want {
		sum += len(w)
	}
	if st.Bytes.Load() != uint64(sum) {
		t.Fatalf("bytes %d, want %d", st.Bytes.Load(), sum)
	}
}

// floodSmallRing opens a capture with the smallest ring and, before it is
// read, sends it more packets (sent) than the ring holds.
func floodSmallRing(t *testing.T) *Live {
	t.Helper()
	lab := newVethLab(t)
	svc := netip.MustParseAddrPort("10.251.0.2:8080")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Filter: Filter{Dst: []netip.AddrPort{svc}}, BlockMB: 1})
	inj := newInjector(t, lab.nsA, lab.vA)
	fr := ethernet(tcpPacket(netip.MustParseAddrPort("10.251.0.1:1"), svc, string(make([]byte, 200)), 0), 0)
	for i := 0; i < sent; i++ {
		inj.send(t, fr)
	}
	return l
}

const sent = 20000 // packets floodSmallRing sends

// TestLiveKernelDrops fills a small ring before reading it and checks
// that the kernel's drops are counted.
func TestLiveKernelDrops(t *testing.T) {
	l := floodSmallRing(t)
	s := &sink{}
	stop := runLive(t, l, s)
	got := s.waitFor(sent, 2*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("sent %d, handled %d, kernel packets %d drops %d freezes %d", sent, len(got),
		st.KernelPackets.Load(), st.KernelDrops.Load(), st.KernelFreezes.Load())
	if st.KernelDrops.Load() == 0 || len(got) == 0 || len(got) >= sent {
		t.Fatal("expected some packets captured and some dropped by the kernel")
	}
	if uint64(len(got))+st.KernelDrops.Load() > sent {
		t.Fatal("captured + dropped exceeds sent")
	}
}

// TestLiveKernelDropsWhileRunning: the kernel's drops show in the counters
// while Run goes on (refreshed by the readers every statsEvery), not only
// after Stats or Close.
func TestLiveKernelDropsWhileRunning(t *testing.T) {
	l := floodSmallRing(t)
	s := &sink{}
	stop := runLive(t, l, s)
	defer stop()
	deadline := time.Now().Add(statsEvery + 2*time.Second)
	for l.stats.KernelDrops.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l.stats.KernelDrops.Load() == 0 || l.stats.KernelPackets.Load() == 0 {
		t.Fatalf("after %v of running: kernel packets %d, drops %d; want both counted without Stats or Close",
			statsEvery+2*time.Second, l.stats.KernelPackets.Load(), l.stats.KernelDrops.Load())
	}
}

func TestLiveCloseStopsRun(t *testing.T) {
	lab := newVethLab(t)
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Fanout: 2,
		Filter: Filter{Dst: []netip.AddrPort{netip.MustParseAddrPort("10.251.0.2:80")}}})
	errc := make(chan error, 1)
	go func() { errc <- l.Run(context.Background(), func([]byte, time.Time) {}) }()
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run after Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if err := l.Run(context.Background(), nil); err == nil {
		t.Fatal("Run on a closed capture succeeded")
	}
}

func TestOpenLiveErrors(t *testing.T) {
	lab := newVethLab(t)
	netns.InNS(t, lab.nsB, func() error {
		if _, err := OpenLive(LiveConfig{Interface: "rgCnosuchdev", Filter: Filter{Dst: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80")}}}); err == nil {
			t.Error("missing interface accepted")
		}
		if _, err := OpenLive(LiveConfig{Interface: lab.vB}); err == nil {
			t.Error("empty filter accepted")
		}
		return nil
	})
}

// TestLiveLoopbackOnce: on loopback every packet passes the interface twice
// (out and in); a real connection's client→server packets are captured once.
func TestLiveLoopbackOnce(t *testing.T) {
	lab := newVethLab(t)
	var ln net.Listener
	netns.InNS(t, lab.nsB, func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	})
	defer ln.Close()
	svc := netip.MustParseAddrPort(ln.Addr().String())
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: "lo", Filter: Filter{Dst: []netip.AddrPort{svc}}})
	s := &sink{}
	stop := runLive(t, l, s)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	var c net.Conn
	netns.InNS(t, lab.nsB, func() (err error) {
		c, err = net.Dial("tcp4", svc.String())
		return err
	})
	msg := "hello-capture-once"
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := s.waitFor(5, 3*time.Second) // SYN, ACK, data, FIN, ACK (at least)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	data, syns := 0, 0
	for _, p := range got {
		if bytes.HasSuffix(p, []byte(msg)) {
			data++
		}
		if p[0]>>4 == 4 && p[33]&0x12 == 0x02 {
			syns++
		}
		if dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[16:20])), uint16(p[22])<<8|uint16(p[23])); dst != svc {
			t.Errorf("captured a packet to %v", dst)
		}
	}
	if data != 1 || syns != 1 {
		t.Fatalf("captured %d packets: data %d times, SYN %d times; want once each", len(got), data, syns)
	}
}

// TestLiveDrainRate fills the ring first, then measures how fast Run
// delivers what it holds (the user-space side of live capture), with
// fanout 2. Nothing may be lost.
func TestLiveDrainRate(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	lab := newVethLab(t)
	svc := netip.MustParseAddrPort("10.251.0.2:8080")
	// Blocks retire when full (or after 200ms): none is wasted half empty
	// while the ring fills without a reader.
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Fanout: 2, BlockMB: 32, BlockTimeout: 200 * time.Millisecond,
		Filter: Filter{Dst: []netip.AddrPort{svc}}})
	inj := newInjector(t, lab.nsA, lab.vA)
	const n = 50000
	for i := 0; i < n; i++ {
		// Different client ports: the fanout hash spreads them.
		src := netip.AddrPortFrom(netip.MustParseAddr("10.251.0.1"), uint16(1024+i%4096))
		inj.send(t, ethernet(tcpPacket(src, svc, "0123456789012345678901234567890123456789", 0), 0))
	}
	time.Sleep(300 * time.Millisecond) // the last blocks retire
	var count atomic.Int64
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for count.Load() < n && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if err := l.Run(ctx, func([]byte, time.Time) { count.Add(1) }); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	st := l.Stats()
	t.Logf("drained %d packets in %v: %.0f pkts/s (kernel drops %d)", count.Load(), el, float64(count.Load())/el.Seconds(), st.KernelDrops.Load())
	if count.Load() != n || st.KernelDrops.Load() != 0 {
		t.Fatalf("captured %d of %d, kernel drops %d", count.Load(), n, st.KernelDrops.Load())
	}
}

// TestLiveTUN captures on a TUN device (frames are bare IP packets): what is
// written into the device arrives as received packets.
func TestLiveTUN(t *testing.T) {
	lab := newVethLab(t)
	name := lab.id + "u"
	var dev *water.Interface
	netns.InNS(t, lab.nsB, func() (err error) {
		dev, err = water.New(water.Config{DeviceType: water.TUN, PlatformSpecificParams: water.PlatformSpecificParams{Name: name}})
		return err
	})
	defer dev.Close()
	netns.Sh(t, "ip", "-n", lab.nsB, "link", "set", name, "up")
	svc4, svc6 := netip.MustParseAddrPort("10.77.0.20:80"), netip.MustParseAddrPort("[fd00:77::20]:80")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: name, Filter: Filter{Dst: []netip.AddrPort{svc4, svc6}}})
	if l.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("TUN link type %v", l.LinkType())
	}
	s := &sink{}
	stop := runLive(t, l, s)
	in4 := tcpPacket(netip.MustParseAddrPort("192.0.2.9:3333"), svc4, "tun-v4", 0)
	in6 := tcpPacket(netip.MustParseAddrPort("[2001:db8::9]:3333"), svc6, "tun-v6", 0)
	for _, p := range [][]byte{in4, tcpPacket(netip.MustParseAddrPort("192.0.2.9:3333"), netip.MustParseAddrPort("10.77.0.20:81"), "no", 0), in6} {
		if _, err := dev.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	got := s.waitFor(2, 3*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], in4) && !bytes.Equal(got[1], in4) || !bytes.Equal(got[0], in6) && !bytes.Equal(got[1], in6) {
		t.Fatalf("captured %q", got)
	}
}

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", unix.ByteSliceToString(u.Release[:]), err)
	}
	return ma > major || (ma == major && mi >= minor)
}

// TestLiveCaptureAnswers: with Filter.Src the answers of a service on this
// host (frames it sends) are captured beside the requests it receives,
// while the host's other outgoing frames (the copier's own packets) stay
// out, single socket and fanout alike.
func TestLiveCaptureAnswers(t *testing.T) {
	for _, fanout := range []int{1, 2} {
		t.Run(fmt.Sprintf("fanout-%d", fanout), func(t *testing.T) {
			lab := newVethLab(t)
			ap := netip.MustParseAddrPort
			svc, cli := ap("10.251.0.2:8080"), ap("10.251.0.1:40000")
			filter := Filter{Dst: []netip.AddrPort{svc}, Src: []netip.AddrPort{svc}}
			on := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Fanout: fanout, Filter: filter})
			if on.kernelSkipsOutgoing {
				t.Fatal("the kernel skips outgoing frames, so the service's answers would be lost")
			}
			s := &sink{}
			stop := runLive(t, on, s)
			req := tcpPacket(cli, svc, "request", 0)
			answer := tcpPacket(svc, cli, "answer", 0)
			own := tcpPacket(cli, svc, "own-outgoing", 0)
			other := tcpPacket(ap("10.251.0.2:9090"), cli, "other-service", 0)
			newInjector(t, lab.nsA, lab.vA).send(t, ethernet(req, 0))
			injB := newInjector(t, lab.nsB, lab.vB)
			injB.send(t, ethernet(answer, 0))
			injB.send(t, ethernet(own, 0))
			injB.send(t, ethernet(other, 0))
			// B's kernel also answers the request with a RST (no listener):
			// an answer of the service like the injected one.
			got := s.waitFor(3, 3*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			var sawReq, sawAnswer, sawRST bool
			for _, g := range got {
				switch {
				case bytes.Equal(g, req):
					sawReq = true
				case bytes.Equal(g, answer):
					sawAnswer = true
				case len(g) == 40 && bytes.Equal(g[12:16], svc.Addr().AsSlice()) && g[33]&0x04 != 0:
					sawRST = true
				default:
					t.Errorf("captured %q, which is neither a request nor an answer of the service", g)
				}
			}
			if !sawReq || !sawAnswer || !sawRST {
				t.Fatalf("request %v, answer %v, kernel RST %v: want all captured", sawReq, sawAnswer, sawRST)
			}
		})
	}
}
