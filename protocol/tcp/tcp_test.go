package tcp

import (
	"testing"

	"github.com/replaygw/replaygw/protocol"
)

// The passthrough needs nothing, copies the client's bytes unchanged after
// what out holds, reports no boundaries and no exchanges, and costs no
// allocation per session.
func TestPassthrough(t *testing.T) {
	p := New()
	if p.Needs() != 0 {
		t.Fatalf("Needs = %v, want 0", p.Needs())
	}
	out, m := p.Client([]byte("ab"), []byte("cd"))
	if string(out) != "abcd" || m != 0 {
		t.Fatalf("Client = %q, %v", out, m)
	}
	_, mo := p.Online(nil, []byte("x"))
	_, mt := p.Target(nil, []byte("x"))
	if m := mo | mt; m != 0 {
		t.Fatalf("response marks %v", m)
	}
	if p.Exchange(&protocol.Exchange{}) {
		t.Fatal("an exchange from the passthrough")
	}
	if n := testing.AllocsPerRun(100, func() { _ = New() }); n != 0 {
		t.Fatalf("New allocates %v times", n)
	}
}
