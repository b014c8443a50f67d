package absorb

import (
	"bytes"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// fakeTUN is a non-blocking AF_UNIX datagram socket pair: the stack reads
// the queue end (one packet per read, pollable like water's TUN file), the
// test writes packets into and reads replies from the peer end.
func fakeTUN(t *testing.T) (queue, peer *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	queue, peer = os.NewFile(uintptr(fds[0]), "queue"), os.NewFile(uintptr(fds[1]), "peer")
	t.Cleanup(func() { queue.Close(); peer.Close() })
	return queue, peer
}

// recorder collects copies of the records a Handler sees.
type recorder struct {
	mu   sync.Mutex
	recs []wire.Record
}

func (c *recorder) handle(r *wire.Record) {
	cp := *r
	cp.Payload = bytes.Clone(r.Payload)
	c.mu.Lock()
	c.recs = append(c.recs, cp)
	c.mu.Unlock()
}

func (c *recorder) snapshot() []wire.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Record(nil), c.recs...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fragment splits an IPv4 packet's payload in two fragments at off (a
// multiple of 8).
func fragment(pkt []byte, off int) [][]byte {
	ip := header.IPv4(pkt)
	data := pkt[header.IPv4MinimumSize:ip.TotalLength()]
	var out [][]byte
	for _, part := range []struct {
		b    []byte
		off  int
		more bool
	}{{data[:off], 0, true}, {data[off:], off, false}} {
		f := make([]byte, header.IPv4MinimumSize+len(part.b))
		copy(f, pkt[:header.IPv4MinimumSize])
		copy(f[header.IPv4MinimumSize:], part.b)
		fip := header.IPv4(f)
		fip.SetTotalLength(uint16(len(f)))
		var flags uint8
		if part.more {
			flags = header.IPv4FlagMoreFragments
		}
		fip.SetFlagsFragmentOffset(flags, uint16(part.off))
		fip.SetChecksum(0)
		fip.SetChecksum(^fip.CalculateChecksum())
		out = append(out, f)
	}
	return out
}

func TestStackFakeTUN(t *testing.T) {
	for _, answer := range []bool{false, true} {
		name := "silent"
		if answer {
			name = "answer-ping"
		}
		t.Run(name, func(t *testing.T) {
			queue, peer := fakeTUN(t)
			var rec recorder
			s, err := New(Config{Queues: []*os.File{queue}, AnswerPing: answer, PayloadCap: 8,
				Pools: []netip.Prefix{netip.MustParsePrefix("10.88.0.0/16"), netip.MustParsePrefix("fd88::/64")}}, rec.handle)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			big := tcpPacket(tcpSpec{src: tgt4, dst: cli4, seq: 77, flags: header.TCPFlagAck, payload: bytes.Repeat([]byte("z"), 100)})
			pkts := [][]byte{
				tcpPacket(tcpSpec{src: tgt4, dst: cli4, seq: 1000, ack: 2001, flags: synAk, opts: synAckOpts}),
				tcpPacket(tcpSpec{src: tgt6, dst: cli6, seq: 5, flags: header.TCPFlagAck, payload: []byte("0123456789")}),
				tcpPacket(tcpSpec{src: tgt6, dst: cli6, seq: 6, flags: synAk, opts: synAckOpts, extHeader: true}), // via stack
				udpPacket(tgt4, cli4, []byte("u4")),
				udpPacket(tgt6, cli6, []byte("u6")),
				echoRequest(tgt4.Addr(), cli4.Addr(), 9, 1, []byte("ping4")),
				echoRequest(tgt6.Addr(), cli6.Addr(), 9, 2, []byte("ping6")),
				{0x45, 0, 0}, // malformed
			}
			pkts = append(pkts, fragment(big, 64)...) // via stack, reassembled
			for _, p := range pkts {
				if _, err := peer.Write(p); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "all packets read", func() bool { return s.Stats().PacketsRead.Load() == uint64(len(pkts)) })
			waitFor(t, "4 TCP records", func() bool { return len(rec.snapshot()) == 4 })
			st := s.Stats()
			recs := rec.snapshot()
			if recs[0].Seq != 1000 || recs[0].Opts.MSS != 1460 || recs[0].Tuple.Client != cli4 {
				t.Errorf("syn-ack record %+v", recs[0])
			}
			if string(recs[1].Payload) != "01234567" || recs[1].PayloadLen != 10 {
				t.Errorf("v6 record payload %q len %d", recs[1].Payload, recs[1].PayloadLen)
			}
			bySeq := map[uint32]wire.Record{}
			for _, r := range recs {
				bySeq[r.Seq] = r
			}
			if r := bySeq[6]; r.Tuple.Client != cli6 || r.Tuple.Target != tgt6 || r.Opts.MSS != 1460 || r.Opts.TSVal != 42 || r.Flags != wire.FlagSYN|wire.FlagACK {
				t.Errorf("extension-header record %+v", r)
			}
			if r := bySeq[77]; r.PayloadLen != 100 || string(r.Payload) != "zzzzzzzz" {
				t.Errorf("reassembled record %+v", r)
			}
			if got := st.TCPViaStack.Load(); got != 2 {
				t.Errorf("tcp_via_stack = %d, want 2", got)
			}
			if got := st.UDPAbsorbed.Load(); got != 2 {
				t.Errorf("udp_absorbed = %d, want 2", got)
			}
			wantICMP := uint64(2)
			if answer {
				wantICMP = 0
			}
			if got := st.ICMPAbsorbed.Load(); got != wantICMP {
				t.Errorf("icmp_absorbed = %d, want %d", got, wantICMP)
			}
			if got := st.Malformed.Load(); got != 1 {
				t.Errorf("malformed = %d, want 1", got)
			}
			if got := st.WritesAttempted.Load(); got != 0 {
				t.Errorf("writes_attempted = %d, want 0", got)
			}
			wantToStack := uint64(7) // ext hdr, 2 UDP, 2 echo, 2 fragments
			if answer {
				wantToStack = 5
			}
			if got := st.ToStack.Load(); got != wantToStack {
				t.Errorf("to_stack = %d, want %d", got, wantToStack)
			}
			replies := readAll(peer)
			if !answer {
				if len(replies) != 0 || st.WritesAllowed.Load() != 0 {
					t.Fatalf("silent stack wrote %d packets (writes_allowed %d)", len(replies), st.WritesAllowed.Load())
				}
				return
			}
			if len(replies) != 2 || st.WritesAllowed.Load() != 2 {
				t.Fatalf("%d replies, writes_allowed %d, want 2", len(replies), st.WritesAllowed.Load())
			}
			checkReply4(t, replies[0])
			checkReply6(t, replies[1])
		})
	}
}

func readAll(f *os.File) [][]byte {
	var out [][]byte
	f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		b := make([]byte, 2048)
		n, err := f.Read(b)
		if err != nil {
			return out
		}
		out = append(out, b[:n])
	}
}

func checkReply4(t *testing.T, p []byte) {
	t.Helper()
	ip := header.IPv4(p)
	if !ip.IsChecksumValid() || ip.SourceAddress() != taddr(cli4.Addr()) || ip.DestinationAddress() != taddr(tgt4.Addr()) {
		t.Fatalf("bad IPv4 reply header % x", p[:20])
	}
	icmp := header.ICMPv4(p[20:])
	if icmp.Type() != header.ICMPv4EchoReply || icmp.Ident() != 9 || string(icmp[8:]) != "ping4" || checksum.Checksum(icmp, 0) != 0xffff {
		t.Fatalf("bad ICMP reply % x", icmp)
	}
}

func checkReply6(t *testing.T, p []byte) {
	t.Helper()
	ip := header.IPv6(p)
	if ip.SourceAddress() != taddr(cli6.Addr()) || ip.DestinationAddress() != taddr(tgt6.Addr()) {
		t.Fatalf("bad IPv6 reply header % x", p[:40])
	}
	icmp := header.ICMPv6(p[40:])
	want := header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: icmp, Src: ip.SourceAddress(), Dst: ip.DestinationAddress()})
	if icmp.Type() != header.ICMPv6EchoReply || string(icmp[8:]) != "ping6" || icmp.Checksum() != want {
		t.Fatalf("bad ICMPv6 reply % x", icmp)
	}
}

func TestEchoReplyRefuses(t *testing.T) {
	pools := []netip.Prefix{netip.MustParsePrefix("10.88.0.0/16")}
	out := make([]byte, 2048)
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"outside pools", echoRequest(tgt4.Addr(), netip.MustParseAddr("10.99.0.1"), 1, 1, nil)},
		{"multicast", echoRequest(tgt4.Addr(), netip.MustParseAddr("224.0.0.1"), 1, 1, nil)},
		{"not echo", udpPacket(tgt4, cli4, nil)},
		{"truncated", echoRequest(tgt4.Addr(), cli4.Addr(), 1, 1, nil)[:24]},
	}
	for _, tt := range tests {
		if n := echoReply(tt.pkt, out, pools); n != 0 {
			t.Errorf("%s: echoReply = %d, want 0", tt.name, n)
		}
	}
}

// closeWithin closes s and fails with msg if that takes 3 s.
func closeWithin(t *testing.T, s *Stack, msg string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal(msg)
	}
}

func TestCloseUnblocks(t *testing.T) {
	queue, _ := fakeTUN(t)
	s, err := New(Config{Queues: []*os.File{queue}}, func(*wire.Record) {})
	if err != nil {
		t.Fatal(err)
	}
	closeWithin(t, s, "Close did not return")
	if _, err := New(Config{}, func(*wire.Record) {}); err == nil {
		t.Fatal("New without queues: want error")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	fd, err := unix.Dup(int(pr.Fd())) // a blocking fd: not pollable
	if err != nil {
		t.Fatal(err)
	}
	blocking := os.NewFile(uintptr(fd), "blocking")
	defer blocking.Close()
	// An unwatched blocking descriptor (as a queue of the tunnel's, but
	// blocking) is made non-blocking, read, and stopped by Close.
	s, err = New(Config{Queues: []*os.File{blocking}}, func(*wire.Record) {})
	if err != nil {
		t.Fatal(err)
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("queue flags after New: %#x (%v), want O_NONBLOCK", fl, err)
	}
	closeWithin(t, s, "Close of a stack on a blocking file did not return")
}

// TestReaderTicksThenWaits: while packets come a reader drains its queue
// once per tick (one Flush per drain, not per packet); idle, it stops
// ticking and waits, and the next packet wakes it.
func TestReaderTicksThenWaits(t *testing.T) {
	queue, peer := fakeTUN(t)
	var rec recorder
	var flushes atomic.Int64
	s, err := New(Config{Queues: []*os.File{queue}, Flush: func() { flushes.Add(1) }}, rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := &s.readers[0].stats
	pkt := tcpPacket(tcpSpec{src: tgt4, dst: cli4, flags: header.TCPFlagAck, payload: []byte("x")})
	send := func(n int) {
		for range n {
			if _, err := peer.Write(pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := func(n int) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for len(rec.snapshot()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d packets read", len(rec.snapshot()), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	send(1) // wakes the waiting reader
	seen(1)
	f0, start := flushes.Load(), time.Now()
	const burst = 200
	send(burst)
	elapsed := time.Since(start)
	seen(1 + burst)
	if got, most := flushes.Load()-f0, int64(elapsed/pollTick)+3; got > most {
		t.Errorf("%d flushes for %d packets sent in %v, want at most %d (one per tick)", got, burst, elapsed, most)
	}
	waits := st.Waits.Load()
	deadline := time.Now().Add(3 * time.Second)
	for st.Waits.Load() == waits {
		if time.Now().After(deadline) {
			t.Fatal("reader did not go idle")
		}
		time.Sleep(time.Millisecond)
	}
	ticks := st.Ticks.Load()
	time.Sleep(50 * time.Millisecond)
	if got := st.Ticks.Load(); got != ticks {
		t.Errorf("idle reader ticked %d times in 50ms", got-ticks)
	}
	send(1)
	seen(2 + burst)
}

// TestReaderTCPNoAllocs: the per-packet path of a reader (count, Extract,
// timestamp, Handler) allocates nothing for TCP.
func TestReaderTCPNoAllocs(t *testing.T) {
	queue, _ := fakeTUN(t)
	var seen int
	s, err := New(Config{Queues: []*os.File{queue}, PayloadCap: 64}, func(r *wire.Record) { seen += int(r.PayloadLen) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.readers[0]
	pkt := tcpPacket(tcpSpec{src: tgt6, dst: cli6, flags: header.TCPFlagAck, opts: synAckOpts, payload: []byte("abc")})
	if n := testing.AllocsPerRun(1000, func() { r.packet(0, pkt) }); n != 0 {
		t.Fatalf("reader path allocates %.1f times per TCP packet", n)
	}
	if seen == 0 {
		t.Fatal("handler not called")
	}
}
