package copier

import (
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// A client that closed its connection and reused the port at once (short
// connections at a high rate) must not cost the old connection its replay
// when the target is slower than the online server: the old session still
// finishes, beside the new one.
func TestPortReuseAfterCapturedFIN(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	old := r.established(c, false)
	c.data("first")
	c.response(10)
	c.data("second") // held: the target has not answered "first" yet
	c.send(header.TCPFlagAck|header.TCPFlagFin, nil, nil)
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "first" {
		t.Fatalf("sent %+v, want only the first request", sent)
	}

	c2 := r.capConn(client4, online4, 80000)
	c2.handshake(time.Millisecond)
	sent = r.snd.take()
	if len(sent) != 1 || sent[0].flags != header.TCPFlagSyn || sent[0].seq != 80000 {
		t.Fatalf("sent %+v, want just the new connection's SYN (no RST to the old session)", sent)
	}
	if tupleOf(sent[0]) == old {
		t.Fatal("the new connection took the old session's tuple while it is live")
	}
	if f := r.fateList(); len(f) != 0 {
		t.Fatalf("fates %v before the old session finished", f)
	}

	// The target answers "first": the old session goes on with "second"
	// and its FIN.
	r.rec(old, wire.FlagACK|wire.FlagPSH, targetISN+1, 1001+5, 1000, 10, wire.Options{})
	sent = r.snd.take()
	var second, fin bool
	for _, p := range sent {
		if tupleOf(p) != old {
			continue
		}
		second = second || string(p.payload) == "second"
		fin = fin || p.has(header.TCPFlagFin)
	}
	if !second {
		t.Fatalf("old session did not send its second request after the reuse: %+v", sent)
	}
	r.rec(old, wire.FlagACK, targetISN+11, 1001+11, 1000, 0, wire.Options{})
	r.advance(10 * time.Millisecond)
	for _, p := range r.snd.take() {
		fin = fin || (tupleOf(p) == old && p.has(header.TCPFlagFin))
	}
	if !fin {
		t.Fatal("old session never sent its FIN")
	}
	for _, f := range r.fateList() {
		if f == FatePortReused {
			t.Fatalf("fates %v: the complete old session was cut", r.fateList())
		}
	}
}
