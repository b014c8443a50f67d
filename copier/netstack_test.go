package copier

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// End-to-end against a real TCP implementation, no root needed: the
// target is a gVisor netstack behind a channel endpoint running a
// line-based server (each line gets a 2000-byte answer). What the engine
// sends is injected into that stack; what the stack sends back is turned
// into wire.Records, as a gateway would.

const respSize = 2000

type nsTarget struct {
	t *testing.T
	// lossEvery: drop one in lossEvery packets sent to the target and
	// records sent back, at random (0: no loss).
	lossEvery int
	rnd       *rand.Rand
	nSend     int
	nRec      int
	// Pacing check: response bytes delivered to the engine per session
	// when each request's first segment left.
	isn        map[wire.Tuple]uint32
	delivered  map[wire.Tuple]uint32
	checked    int
	violations []string
	st         *stack.Stack
	ep         *channel.Endpoint
	mu         sync.Mutex
	got        map[string]string // remote addr -> everything received
	done       chan string
	order      []string
}

func (n *nsTarget) Send(pkt []byte) error {
	n.mu.Lock()
	n.nSend++
	drop := n.lossEvery > 0 && n.rnd.IntN(n.lossEvery) == 0
	n.mu.Unlock()
	if traceNS {
		src, _, tc, _ := ipTCP(pkt)
		n.t.Logf("SEND %v:%d seq=%d ack=%d len=%d fl=%v drop=%v", src, tc.SourcePort(), tc.SequenceNumber(), tc.AckNumber(), len(tc.Payload()), tc.Flags(), drop)
	}
	n.checkPacing(pkt)
	if drop {
		return nil
	}
	pb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(append([]byte(nil), pkt...))})
	proto := ipv4.ProtocolNumber
	if header.IPVersion(pkt) == 6 {
		proto = ipv6.ProtocolNumber
	}
	n.ep.InjectInbound(proto, pb)
	pb.DecRef()
	return nil
}

// ipTCP splits an IPv4 or IPv6 packet.
func ipTCP(b []byte) (src, dst netip.Addr, tc header.TCP, ok bool) {
	switch header.IPVersion(b) {
	case 4:
		ip := header.IPv4(b)
		if !ip.IsValid(len(b)) || ip.Protocol() != uint8(header.TCPProtocolNumber) {
			return
		}
		return netip.AddrFrom4(ip.SourceAddress().As4()), netip.AddrFrom4(ip.DestinationAddress().As4()), header.TCP(ip.Payload()), true
	case 6:
		ip := header.IPv6(b)
		if !ip.IsValid(len(b)) || ip.TransportProtocol() != header.TCPProtocolNumber {
			return
		}
		return netip.AddrFrom16(ip.SourceAddress().As16()), netip.AddrFrom16(ip.DestinationAddress().As16()), header.TCP(ip.Payload()), true
	}
	return
}

func newNSTarget(t *testing.T, target netip.AddrPort) *nsTarget {
	n := &nsTarget{t: t, got: map[string]string{}, done: make(chan string, 64),
		isn: map[wire.Tuple]uint32{}, delivered: map[wire.Tuple]uint32{}, rnd: rand.New(rand.NewPCG(1, 2))}
	n.st = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	n.ep = channel.New(4096, 1500, "")
	if err := n.st.CreateNIC(1, n.ep); err != nil {
		t.Fatal(err)
	}
	ta := tcpip.AddrFromSlice(target.Addr().AsSlice())
	proto := ipv4.ProtocolNumber
	if target.Addr().Is6() {
		proto = ipv6.ProtocolNumber
	}
	if err := n.st.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: ta.WithPrefix()}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	n.st.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}, {Destination: header.IPv6EmptySubnet, NIC: 1}})
	ln, err := gonet.ListenTCP(n.st, tcpip.FullAddress{NIC: 1, Addr: ta, Port: target.Port()}, proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); n.st.Close(); n.ep.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var all strings.Builder
				for {
					line, err := br.ReadString('\n')
					all.WriteString(line)
					if err != nil {
						break
					}
					if _, err := c.Write(bytes.Repeat([]byte{'r'}, respSize)); err != nil {
						break
					}
				}
				n.mu.Lock()
				n.got[c.RemoteAddr().String()] = all.String()
				n.mu.Unlock()
				n.done <- c.RemoteAddr().String()
			}()
		}
	}()
	return n
}

func (n *nsTarget) noteRecord(r *wire.Record) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r.Has(wire.FlagSYN) {
		n.isn[r.Tuple] = r.Seq + 1
		return
	}
	if end := r.Seq + uint32(r.PayloadLen) - n.isn[r.Tuple]; r.PayloadLen > 0 && int32(end) > int32(n.delivered[r.Tuple]) {
		n.delivered[r.Tuple] = end
	}
}

// checkPacing: "request k" may only leave once the engine was given the
// records of k full responses.
func (n *nsTarget) checkPacing(pkt []byte) {
	src, dst, tc, ok := ipTCP(pkt)
	if !ok {
		return
	}
	var k int
	if _, err := fmt.Sscanf(string(tc.Payload()), "request %d", &k); err != nil {
		return
	}
	tu := wire.Tuple{Client: netip.AddrPortFrom(src, tc.SourcePort()), Target: netip.AddrPortFrom(dst, tc.DestinationPort())}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.checked++
	if got := n.delivered[tu]; got < uint32(k*respSize) {
		n.violations = append(n.violations, fmt.Sprintf("%v: request %d sent after %d response bytes", tu, k, got))
	}
}

// pumpRecords turns the stack's outbound segments into records.
func (n *nsTarget) pumpRecords(ctx context.Context, e *Engine) {
	for {
		pb := n.ep.ReadContext(ctx)
		if pb == nil {
			return
		}
		v := pb.ToView()
		b := v.AsSlice()
		if src, dst, tc, ok := ipTCP(b); ok {
			r := wire.Record{
				Tuple: wire.Tuple{Client: netip.AddrPortFrom(dst, tc.DestinationPort()), Target: netip.AddrPortFrom(src, tc.SourcePort())},
				Seq:   tc.SequenceNumber(), Ack: tc.AckNumber(), Window: tc.WindowSize(),
				Flags: uint8(tc.Flags()), PayloadLen: uint16(len(tc.Payload())),
			}
			if tc.Flags()&header.TCPFlagSyn != 0 {
				so := header.ParseSynOptions(tc.Options(), true)
				r.Opts.Has |= wire.OptMSS
				r.Opts.MSS = so.MSS
				if so.WS >= 0 {
					r.Opts.Has |= wire.OptWScale
					r.Opts.WScale = uint8(so.WS)
				}
				if so.TS {
					r.Opts.Has |= wire.OptTimestamp
					r.Opts.TSVal, r.Opts.TSEcr = so.TSVal, so.TSEcr
				}
			} else if o := header.ParseTCPOptions(tc.Options()); o.TS {
				r.Opts.Has |= wire.OptTimestamp
				r.Opts.TSVal, r.Opts.TSEcr = o.TSVal, o.TSEcr
			}
			n.mu.Lock()
			n.nRec++
			drop := n.lossEvery > 0 && n.rnd.IntN(n.lossEvery) == 0
			n.mu.Unlock()
			if traceNS {
				n.t.Logf("REC  %v seq=%d ack=%d len=%d win=%d fl=%v drop=%v", r.Tuple.Client, r.Seq, r.Ack, r.PayloadLen, r.Window, header.TCPFlags(r.Flags), drop)
			}
			if !drop {
				n.noteRecord(&r)
				e.HandleRecord(&r)
			}
		}
		v.Release()
		pb.DecRef()
	}
}

func TestAgainstNetstack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		copies  int
		pool    string
		midJoin bool
		loss    int
		noPace  bool
		v6      bool
	}{
		{"captured handshake", 1, "", false, 0, false, false},
		{"mid-stream join", 1, "", true, 0, false, false},
		{"three copies from a pool", 3, "10.88.0.0/24", false, 0, false, false},
		{"lossy path both ways", 1, "", false, 5, false, false},
		{"lossy path, three copies", 3, "10.88.0.0/24", true, 7, false, false},
		{"no pacing sends ahead", 1, "", false, 0, true, false},
		{"ipv6", 1, "", false, 0, false, true},
		{"ipv6 pool, two copies, lossy", 2, "2001:db8:88::/112", false, 6, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, onl, tgt := client4, online4, target4
			if tc.v6 {
				cli, onl, tgt = client6, online6, target6
			}
			n := newNSTarget(t, tgt)
			n.lossEvery = tc.loss
			var mu sync.Mutex
			var sums []SessionSummary
			ended := make(chan struct{}, 8)
			cfg := Config{Routes: []Route{{From: onl, To: tgt}}, Workers: 1, Copies: tc.copies, Logger: engTestLogger(t),
				OnSessionEnd: func(s SessionSummary) { mu.Lock(); sums = append(sums, s); mu.Unlock(); ended <- struct{}{} }}
			cfg.NoPacing = tc.noPace
			if tc.pool != "" {
				cfg.ClientPool = netip.MustParsePrefix(tc.pool)
			}
			e, err := NewEngine(cfg, n, &engLeases{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go n.pumpRecords(ctx, e)

			r := &engRig{t: t, e: e, clk: &engClock{t: time.Now()}}
			c := r.capConn(cli, onl, 3_000_000_000) // seq wraps during the test
			if !tc.midJoin {
				c.handshake(time.Millisecond)
			}
			var want strings.Builder
			for i := range 4 {
				line := fmt.Sprintf("request %d %s\n", i, strings.Repeat("x", i*1500)) // some exceed the MSS
				c.data(line)
				want.WriteString(line)
				c.response(respSize)
			}
			c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)

			for range tc.copies {
				select {
				case <-ended:
				case <-time.After(10 * time.Second):
					t.Fatalf("sessions did not end; stats %+v", engCounters(e))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range sums {
				if s.Fate != FateReplayed || s.Requests != 4 || (s.Responses != 4 && !tc.noPace) {
					t.Errorf("session %v: fate %v, %d requests, %d responses; want replayed 4/4", s.Tuple, s.Fate, s.Requests, s.Responses)
				}
			}
			for range tc.copies {
				select {
				case <-n.done:
				case <-time.After(5 * time.Second):
					t.Fatal("server did not see the close")
				}
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			if len(n.got) != tc.copies {
				t.Fatalf("server saw %d connections, want %d", len(n.got), tc.copies)
			}
			for addr, got := range n.got {
				if got != want.String() {
					t.Errorf("%s: server received %d bytes, want %d identical", addr, len(got), want.Len())
				}
				if tc.pool != "" && !netip.MustParsePrefix(tc.pool).Contains(netip.MustParseAddrPort(addr).Addr()) {
					t.Errorf("connection from %s, not from the pool", addr)
				}
			}
			if tc.loss == 0 && !tc.noPace && len(n.violations) > 0 {
				t.Errorf("pacing violated: %v", n.violations)
			}
			if tc.noPace && len(n.violations) == 0 {
				t.Errorf("NoPacing: every request still waited for its response")
			}
			if n.checked < 4*tc.copies {
				t.Errorf("pacing checked on %d requests, want >= %d", n.checked, 4*tc.copies)
			}
			t.Logf("counters: %s", engCounters(e))
			if tc.loss > 0 && e.Stats().Retransmits.Load() == 0 {
				t.Errorf("lossy path but no retransmission")
			}
			if tc.loss == 0 && e.Stats().PaceWaitExpired.Load() != 0 {
				t.Errorf("a request was released by the wait cap, not by its response")
			}
		})
	}
}

func engCounters(e *Engine) string {
	var b strings.Builder
	for _, c := range e.Stats().Counters() {
		if c.Value() != 0 {
			fmt.Fprintf(&b, "%s ", c)
		}
	}
	return b.String()
}

func engTestLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(engLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type engLogWriter struct{ t *testing.T }

func (w engLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

const traceNS = false
