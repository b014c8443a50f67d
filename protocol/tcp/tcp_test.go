package tcp

import (
	"testing"

	"github.com/replaygw/replaygw/protocol"
)

// The passthrough needs nothing, copies the client's bytes unchanged after
// what out holds, reports no boundaries and no exchanges, and costs no
// allocation per session.
func TestPassthrough(t *testing.T) {
	p, err := New(protocol.Start{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Needs() != 0 {
		t.Fatalf("Needs = %v, want 0", p.Needs())
	}
	out, m := p.Client([]byte("ab"), []byte("cd"), 1)
	if string(out) != "abcd" || m != 0 {
		t.Fatalf("Client = %q, %v", out, m)
	}
	_, mo := p.Online(nil, []byte("x"), 1)
	_, mt := p.Target(nil, []byte("x"), 1)
	if m := mo | mt; m != 0 {
		t.Fatalf("response marks %v", m)
	}
	if _, m := p.End(nil, protocol.SideOnline, 1); m != 0 || p.Fate() != nil {
		t.Fatalf("End marks %v, fate %v", m, p.Fate())
	}
	if p.Exchange(&protocol.Exchange{}) {
		t.Fatal("an exchange from the passthrough")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = New(protocol.Start{}) }); n != 0 {
		t.Fatalf("New allocates %v times", n)
	}
}
