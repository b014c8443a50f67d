package copier

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/tcp"
	"github.com/replaygw/replaygw/wire"
)

// A route without a protocol and one with protocol/tcp both take the
// passthrough: no protocol state, bytes as captured, ack-heuristic pacing
// (two segments on one online ack are one request, sent back to back).
func TestProtocolPassthrough(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    protocol.New
	}{{"nil", nil}, {"tcp", tcp.New}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngRig(t, func(c *Config) { c.Routes[0].Protocol = tc.p })
			c := r.capConn(client4, online4, 1000)
			tu := r.established(c, false)
			if s := r.e.workers[0].sessions[tu]; s == nil || s.proto != nil {
				t.Fatalf("session %v keeps protocol state", s)
			}
			c.data("req1\n")
			c.data("more\n")
			sent := r.snd.take()
			if len(sent) != 2 || string(sent[0].payload) != "req1\n" || string(sent[1].payload) != "more\n" {
				t.Fatalf("sent %+v, want both segments as captured", sent)
			}
		})
	}
}

// fakeProto marks every client call a request start and a target payload
// ending in "END" a complete response.
type fakeProto struct {
	client    []byte
	exchanges int
	ready     int // complete responses whose exchange was not taken
}

func (f *fakeProto) Needs() protocol.Needs { return protocol.NeedsClient | protocol.NeedsTarget }
func (f *fakeProto) Client(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	f.client = append(f.client, p...)
	return append(out, p...), protocol.RequestStart
}
func (f *fakeProto) Online(out, _ []byte, _ int64) ([]byte, protocol.Mark) { return out, 0 }
func (f *fakeProto) End(out []byte, _ protocol.Side, _ int64) ([]byte, protocol.Mark) {
	return out, 0
}
func (f *fakeProto) Fate() *protocol.Fate { return nil }
func (f *fakeProto) Target(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	if bytes.HasSuffix(p, []byte("END")) {
		f.ready++
		return out, protocol.ResponseComplete
	}
	return out, 0
}
func (f *fakeProto) Exchange(x *protocol.Exchange) bool {
	if f.ready == 0 {
		return false
	}
	f.ready--
	f.exchanges++
	return true
}

// A protocol's marks pace instead of the ack heuristic: the second segment
// (same online ack, one request for the heuristic) is a new request for the
// protocol and waits until it reports the response complete; the client
// stream reaches it once, in order, duplicates and all.
func TestProtocolMarksPace(t *testing.T) {
	f := &fakeProto{}
	r := newEngRig(t, func(c *Config) {
		c.Routes[0].Protocol = func(protocol.Start) (protocol.Protocol, error) { return f, nil }
	})
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("req1\n")
	c.data("req2\n")
	c.seq -= 5
	c.data("req2\n") // a captured retransmission
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "req1\n" {
		t.Fatalf("sent %+v, want req1 only", sent)
	}
	if string(f.client) != "req1\nreq2\n" {
		t.Fatalf("protocol saw client stream %q", f.client)
	}
	payload := []byte("not yet")
	r.e.HandleRecord(&wire.Record{Tuple: tu, Seq: targetISN + 1, Ack: 1006, Window: 1000, Flags: wire.FlagACK,
		PayloadLen: uint16(len(payload)), Payload: payload})
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("req2 released before the response was complete: %+v", s)
	}
	payload = []byte("...END")
	r.e.HandleRecord(&wire.Record{Tuple: tu, Seq: targetISN + 8, Ack: 1006, Window: 1000, Flags: wire.FlagACK,
		PayloadLen: uint16(len(payload)), Payload: payload})
	sent = r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "req2\n" {
		t.Fatalf("after the complete response sent %+v, want req2", sent)
	}
	if f.exchanges != 1 {
		t.Fatalf("exchanges taken %d, want 1", f.exchanges)
	}
}

// pipeProto is a fakeProto whose server answers in order.
type pipeProto struct {
	fakeProto
	answered int
}

func (p *pipeProto) Answered() int { return p.answered }
func (p *pipeProto) Target(out, b []byte, at int64) ([]byte, protocol.Mark) {
	out, m := p.fakeProto.Target(out, b, at)
	if m&protocol.ResponseComplete != 0 {
		p.answered++
	}
	return out, m
}

// An ordered protocol's requests go as captured, without waiting for the
// target's answers, until protocol.PipelineDepth are unanswered; the next
// one waits for an answer.
func TestProtocolPipelines(t *testing.T) {
	p := &pipeProto{}
	r := newEngRig(t, func(c *Config) {
		c.Routes[0].Protocol = func(protocol.Start) (protocol.Protocol, error) { return p, nil }
		c.SessionBuffer = 1 << 20
	})
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	n := protocol.PipelineDepth + 2
	for i := range n {
		c.data(fmt.Sprintf("r%03d\n", i))
	}
	sent := r.snd.take()
	if len(sent) != protocol.PipelineDepth {
		t.Fatalf("sent %d requests before any answer, want %d", len(sent), protocol.PipelineDepth)
	}
	for i, s := range sent {
		if want := fmt.Sprintf("r%03d\n", i); string(s.payload) != want {
			t.Fatalf("request %d sent %q, want %q (in order)", i, s.payload, want)
		}
	}
	payload := []byte("END")
	r.e.HandleRecord(&wire.Record{Tuple: tu, Seq: targetISN + 1, Ack: 1001 + 5*uint32(protocol.PipelineDepth), Window: 1000,
		Flags: wire.FlagACK, PayloadLen: uint16(len(payload)), Payload: payload})
	sent = r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != fmt.Sprintf("r%03d\n", protocol.PipelineDepth) {
		t.Fatalf("after one answer sent %+v, want the next request only", sent)
	}
}

// A route whose protocol reads the target's responses takes flagged
// leases, which turns implicit leases off (New); plain routes do not.
func TestFlaggedLeases(t *testing.T) {
	if r := newEngRig(t, nil); r.e.flaggedLeases() {
		t.Error("a plain route reported flagged leases")
	}
	r := newEngRig(t, func(c *Config) {
		c.Routes[0].Protocol = func(protocol.Start) (protocol.Protocol, error) { return &fakeProto{}, nil }
	})
	if !r.e.flaggedLeases() || r.e.leaseFlags(0) != LeasePayload {
		t.Error("a route reading the target's responses did not report flagged leases")
	}
}
