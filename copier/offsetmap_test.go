package copier

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// rewriter is a protocol that changes the stream's length: every 'a' the
// client sends becomes "AAA", every '-' is dropped, "big" becomes 3000
// bytes; a target response containing "HELLO" makes it insert "LOGIN\n";
// a response ending in "END" completes the request; "FAIL" from the
// client sets a fate.
type rewriter struct {
	client, online, target []byte
	ends                   []protocol.Side
	ready                  int
	taken                  int
	reqs                   int
	fate                   *protocol.Fate
}

func (f *rewriter) Needs() protocol.Needs {
	return protocol.NeedsClient | protocol.NeedsOnline | protocol.NeedsTarget
}

func (f *rewriter) Client(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	f.client = append(f.client, p...)
	if bytes.Contains(p, []byte("FAIL")) {
		f.fate = &protocol.Fate{Code: "test_refused", Detail: "client said FAIL"}
		return out, 0
	}
	if string(p) == "big" {
		return append(out, bytes.Repeat([]byte{'B'}, 3000)...), protocol.RequestStart
	}
	for _, c := range p {
		switch c {
		case 'a':
			out = append(out, "AAA"...)
		case '-':
		default:
			out = append(out, c)
		}
	}
	f.reqs++
	return out, protocol.RequestStart
}

func (f *rewriter) Online(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	f.online = append(f.online, p...)
	return out, 0
}

func (f *rewriter) Target(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	f.target = append(f.target, p...)
	if bytes.Contains(p, []byte("HELLO")) {
		out = append(out, "LOGIN\n"...)
	}
	if bytes.HasSuffix(p, []byte("END")) {
		f.ready++
		return out, protocol.ResponseComplete
	}
	return out, 0
}

func (f *rewriter) End(out []byte, s protocol.Side, _ int64) ([]byte, protocol.Mark) {
	f.ends = append(f.ends, s)
	return out, 0
}

func (f *rewriter) Exchange(x *protocol.Exchange) bool {
	if f.ready == 0 {
		return false
	}
	f.ready--
	x.Request = f.taken
	f.taken++
	x.Kind = "test"
	return true
}

func (f *rewriter) Fate() *protocol.Fate { return f.fate }

type exchangeLog struct {
	src []ExchangeSource
	x   []protocol.Exchange
}

func rewriterRig(t *testing.T) (*engRig, *rewriter, *exchangeLog) {
	f := &rewriter{}
	xl := &exchangeLog{}
	r := newEngRig(t, func(c *Config) {
		c.Routes[0].Protocol = func(protocol.Start) (protocol.Protocol, error) { return f, nil }
		c.OnExchange = func(s ExchangeSource, x *protocol.Exchange) {
			xl.src = append(xl.src, s)
			xl.x = append(xl.x, *x)
		}
	})
	return r, f, xl
}

func targetData(r *engRig, tu wire.Tuple, seq, ack uint32, p string) {
	r.e.HandleRecord(&wire.Record{Tuple: tu, Seq: seq, Ack: ack, Window: 65535, Flags: wire.FlagACK,
		PayloadLen: uint16(len(p)), Payload: []byte(p)})
}

// The offset map: rewritten bytes go at the target's sequence numbers,
// the target's ACKs of rewritten bytes free them, a retransmission resends
// them identically, a captured retransmission is not handed over again,
// and the client's FIN lands after the rewritten stream's end.
func TestOffsetMapRewrites(t *testing.T) {
	r, f, xl := rewriterRig(t)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("xa-y") // captured 1001..1004, rewritten "xAAAy" 1001..1005
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "xAAAy" || sent[0].seq != 1001 {
		t.Fatalf("sent %+v, want xAAAy at 1001", sent)
	}
	c.data("ab") // held: the first response is not complete
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("second request sent before the response: %+v", s)
	}
	targetData(r, tu, targetISN+1, 1006, "resp END")
	sent = r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "AAAb" || sent[0].seq != 1006 {
		t.Fatalf("sent %+v, want AAAb at 1006 (the rewritten offset)", sent)
	}
	if len(xl.x) != 1 || xl.x[0].TargetSent == 0 || xl.src[0].Conn == 0 || xl.src[0].Client != client4 {
		t.Fatalf("exchanges %+v from %+v, want one with its send time and source", xl.x, xl.src)
	}
	// Lost: the retransmission is byte for byte the rewritten segment.
	r.advance(1500 * time.Millisecond)
	sent = r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "AAAb" || sent[0].seq != 1006 {
		t.Fatalf("retransmitted %+v, want AAAb at 1006 again", sent)
	}
	r.rec(tu, wire.FlagACK, targetISN+9, 1010, 65535, 0, wire.Options{})
	if got := r.e.BufferedBytes(); got != 0 {
		t.Fatalf("%d bytes still buffered after the target acked everything", got)
	}
	// A captured retransmission of "ab" is not handed to the protocol again.
	c.seq -= 2
	c.data("ab")
	if string(f.client) != "xa-yab" {
		t.Fatalf("protocol saw %q, want each captured byte once", f.client)
	}
	c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
	sent = r.snd.take()
	if len(sent) != 1 || !sent[0].has(header.TCPFlagFin) || sent[0].seq != 1010 {
		t.Fatalf("sent %+v, want FIN at 1010, after the rewritten bytes", sent)
	}
	if len(f.ends) != 1 || f.ends[0] != protocol.SideClient {
		t.Fatalf("ends %v, want the client's", f.ends)
	}
}

// Bytes the protocol inserts on a target response (an answer to the
// target's own challenge) go next in the target's sequence space; a long
// output is cut at the target's MSS; the online server's captured
// responses reach Online in order (its pure ACKs carry nothing).
func TestOffsetMapInsertsAndOnline(t *testing.T) {
	r, f, _ := rewriterRig(t)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	// The online server's SYN-ACK and two response segments, out of order.
	srv := func(flags header.TCPFlags, seq uint32, p string) {
		r.e.HandlePacket(buildCaptured(capSpec{src: online4, dst: client4, seq: seq, ack: 1001, flags: flags, payload: []byte(p)}), r.clk.Now())
	}
	srv(header.TCPFlagSyn|header.TCPFlagAck, 4999, "")
	srv(header.TCPFlagAck, 5000, "") // a pure ACK: nothing to follow
	srv(header.TCPFlagAck, 5003, "def")
	srv(header.TCPFlagAck, 5000, "abc")
	srv(header.TCPFlagAck, 5000, "abc") // captured twice
	if string(f.online) != "abcdef" {
		t.Fatalf("Online saw %q, want abcdef once, in order", f.online)
	}
	targetData(r, tu, targetISN+1, 1001, "HELLO")
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "LOGIN\n" || sent[0].seq != 1001 {
		t.Fatalf("sent %+v, want the inserted LOGIN at 1001", sent)
	}
	r.rec(tu, wire.FlagACK, targetISN+6, 1007, 65535, 0, wire.Options{})
	c.data("big")
	sent = r.snd.take()
	if len(sent) != 3 {
		t.Fatalf("sent %d segments, want 3000 bytes cut at the MSS", len(sent))
	}
	next := uint32(1007)
	for _, p := range sent {
		if p.seq != next || len(p.payload) > 1400 || strings.Trim(string(p.payload), "B") != "" {
			t.Fatalf("segment %+v, want B bytes at %d", p, next)
		}
		next += uint32(len(p.payload))
	}
	if next != 1007+3000 {
		t.Fatalf("sent up to %d, want %d", next, 1007+3000)
	}
}

// A fate set by the protocol resets the target's connection and ends the
// session with FateProtocol and the protocol's code; nothing of the
// refused bytes reaches the target.
func TestOffsetMapFate(t *testing.T) {
	r, _, _ := rewriterRig(t)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	c.data("FAIL")
	sent := r.snd.take()
	if len(sent) != 1 || !sent[0].has(header.TCPFlagRst) || len(sent[0].payload) != 0 {
		t.Fatalf("sent %+v, want one RST and no payload", sent)
	}
	r.wantFates(FateProtocol)
	if pf := r.fates[0].ProtoFate; pf == nil || pf.Code != "test_refused" {
		t.Fatalf("summary fate %+v, want test_refused", pf)
	}
}

// A record whose payload the gateway cut leaves a hole in the target's
// stream: the session ends (protocol, target_payload_short) rather than
// feeding the protocol a garbled stream.
func TestOffsetMapShortPayload(t *testing.T) {
	r, f, _ := rewriterRig(t)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	r.e.HandleRecord(&wire.Record{Tuple: tu, Seq: targetISN + 1, Ack: 1001, Window: 65535, Flags: wire.FlagACK,
		PayloadLen: 100, Payload: []byte("only a part")})
	if len(f.target) != 0 {
		t.Fatalf("protocol was fed %q from a cut record", f.target)
	}
	r.wantFates(FateProtocol)
	if pf := r.fates[0].ProtoFate; pf == nil || pf.Code != "target_payload_short" {
		t.Fatalf("summary fate %+v", pf)
	}
	if r.e.Stats().TargetPayloadShort.Load() != 1 {
		t.Fatal("cut record not counted")
	}
}

// Sessions of a protocol that reads the target take their leases with
// LeasePayload; a route with a noise target gets one more session per
// connection, to it, marked Noise.
func TestProtocolLeaseFlagsAndNoise(t *testing.T) {
	f := &rewriter{}
	var flags []LeaseFlags
	r := newEngRig(t, func(c *Config) {
		c.Routes[0].Protocol = func(protocol.Start) (protocol.Protocol, error) { return f, nil }
		c.Routes[0].Noise = noise4
	})
	r.rt.onAdd = func(_ wire.Tuple, fl LeaseFlags) { flags = append(flags, fl) }
	c := r.capConn(client4, online4, 1000)
	c.handshake(time.Millisecond)
	sent := r.snd.take()
	if len(sent) != 2 || sent[0].dst != target4 || sent[1].dst != noise4 {
		t.Fatalf("sent %+v, want SYNs to the target and the noise target", sent)
	}
	if len(flags) != 2 || flags[0] != LeasePayload || flags[1] != LeasePayload {
		t.Fatalf("lease flags %v, want LeasePayload twice", flags)
	}
	r.e.Close()
	if len(r.fates) != 2 {
		t.Fatalf("summaries %+v, want two", r.fates)
	}
	for _, f := range r.fates { // in the order the sessions ended
		if f.Noise != (f.Copy == 1) || f.Noise != (f.Tuple.Target == noise4) {
			t.Fatalf("summaries %+v, want the copy to the noise target, and it only, marked Noise", r.fates)
		}
	}
}
