package copier

import (
	"bytes"
	"testing"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// holdingProto holds every client byte until the target sends "GO" (as
// MySQL holds commands until the target's login is through), and says so
// through Holding.
type holdingProto struct {
	held []byte
	go_  bool
	ends int
}

func (h *holdingProto) Needs() protocol.Needs { return protocol.NeedsClient | protocol.NeedsTarget }
func (h *holdingProto) Client(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	if h.go_ {
		return append(out, p...), protocol.RequestStart
	}
	h.held = append(h.held, p...)
	return out, 0
}
func (h *holdingProto) Online(out, _ []byte, _ int64) ([]byte, protocol.Mark) { return out, 0 }
func (h *holdingProto) Target(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	if !h.go_ && bytes.Contains(p, []byte("GO")) {
		h.go_ = true
		out = append(out, h.held...)
		h.held = nil
		return out, protocol.RequestStart
	}
	return out, 0
}
func (h *holdingProto) End(out []byte, _ protocol.Side, _ int64) ([]byte, protocol.Mark) {
	h.ends++
	return out, 0
}
func (h *holdingProto) Exchange(*protocol.Exchange) bool { return false }
func (h *holdingProto) Fate() *protocol.Fate             { return nil }
func (h *holdingProto) Holding() bool                    { return len(h.held) > 0 }

// The client's FIN captured while the protocol holds client bytes back
// waits for them: the held bytes reach the target first, then the FIN,
// after them in the target's sequence space. (It used to be queued at
// once, and the bytes the protocol released later were counted as after
// the end and never sent: a MySQL client that logged in, ran its queries
// and quit before the target had answered the login lost all of it.)
func TestProtocolHoldsClientFIN(t *testing.T) {
	h := &holdingProto{}
	r := newEngRig(t, func(c *Config) {
		c.Routes[0].Protocol = func(protocol.Start) (protocol.Protocol, error) { return h, nil }
	})
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("cmd1;")
	c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v while the protocol holds the client's bytes, want nothing (the FIN waits)", s)
	}
	if h.ends != 1 {
		t.Fatalf("End called %d times, want once when the client's FIN became contiguous", h.ends)
	}
	targetData(r, tu, targetISN+1, 1001, "GO")
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "cmd1;" || sent[0].seq != 1001 || sent[0].has(header.TCPFlagFin) {
		t.Fatalf("after the target's GO sent %+v, want the held cmd1; at 1001, no FIN yet", sent)
	}
	r.rec(tu, wire.FlagACK, targetISN+3, 1006, 65535, 0, wire.Options{})
	sent = r.snd.take()
	if len(sent) != 1 || !sent[0].has(header.TCPFlagFin) || sent[0].seq != 1006 {
		t.Fatalf("after the target acked the held bytes sent %+v, want the FIN at 1006", sent)
	}
	if got := r.e.Stats().ProtoBytesAfterEnd.Load(); got != 0 {
		t.Fatalf("%d protocol bytes counted after the end, want 0", got)
	}
	if h.ends != 1 {
		t.Fatalf("End called %d times, want once", h.ends)
	}
}

// A pure ACK from the online server (no payload: the engine keeps no
// buffer for it) reaches no protocol, and the data around it still does.
// (It used to dereference the missing buffer and crash the worker.)
func TestProtocolOnlinePureACK(t *testing.T) {
	r, f, _ := rewriterRig(t)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	srv := func(flags header.TCPFlags, seq uint32, p string) {
		r.e.HandlePacket(buildCaptured(capSpec{src: online4, dst: client4, seq: seq, ack: 1001, flags: flags, payload: []byte(p)}), r.clk.Now())
	}
	srv(header.TCPFlagSyn|header.TCPFlagAck, 4999, "")
	srv(header.TCPFlagAck, 5000, "abc")
	srv(header.TCPFlagAck, 5003, "")
	srv(header.TCPFlagAck|header.TCPFlagPsh, 5003, "def")
	if string(f.online) != "abcdef" {
		t.Fatalf("Online saw %q, want abcdef", f.online)
	}
}
