package capture

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/afpacket"
)

// TestRingPeek checks the peek against gopacket on every read: when it
// says ready, ZeroCopyReadPacketData returns a packet, not a timeout; when
// it says not ready, gopacket finds none either (unless a block retired
// between the two looks, which must stay rare), across packets of one
// block, retired blocks and the wrap of the ring.
func TestRingPeek(t *testing.T) {
	lab := newVethLab(t)
	svc := netip.MustParseAddrPort("10.251.0.2:8080")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Filter: Filter{Dst: []netip.AddrPort{svc}}, BlockMB: minSocketRingMB})
	tp := l.socks[0]
	peek := newRingPeek(tp, l.numBlocks[0])
	if peek == nil {
		t.Fatal("no ring peek: gopacket's TPacket fields changed; the capture would poll(2) after every drain")
	}
	inj := newInjector(t, lab.nsA, lab.vA)
	fr := ethernet(tcpPacket(netip.MustParseAddrPort("10.251.0.1:1"), svc, string(make([]byte, 1000)), 0), 0)
	got, reads, races := 0, 0, 0
	// Enough rounds of a few packets each to retire more blocks than the
	// ring has, so the reader wraps around it.
	rounds := l.numBlocks[0] + 8
	for r := 0; r < rounds; r++ {
		for i := 0; i < 3; i++ {
			inj.send(t, fr)
		}
		deadline := time.Now().Add(2 * time.Second)
		for n := 0; n < 3 && time.Now().Before(deadline); {
			want := peek.ready()
			_, _, err := tp.ZeroCopyReadPacketData()
			reads++
			switch {
			case err == nil && !want:
				// The kernel retired a block between the two looks.
				races++
				n++
				got++
			case errors.Is(err, afpacket.ErrTimeout) && want:
				t.Fatalf("round %d: the peek said ready, gopacket timed out", r)
			case err == nil:
				n++
				got++
			case errors.Is(err, afpacket.ErrTimeout):
				time.Sleep(time.Millisecond)
			default:
				t.Fatalf("read: %v", err)
			}
		}
	}
	if got != 3*rounds {
		t.Fatalf("read %d packets of %d sent", got, 3*rounds)
	}
	// At the end the peek must still agree with gopacket. (Rarely the
	// veth lab delivers one frame more than was sent, a few µs after the
	// last: then the peek is right to say ready.)
	if ready := peek.ready(); ready {
		if _, _, err := tp.ZeroCopyReadPacketData(); err != nil {
			t.Fatalf("ready at the end, but gopacket: %v", err)
		}
	} else if _, _, err := tp.ZeroCopyReadPacketData(); !errors.Is(err, afpacket.ErrTimeout) {
		t.Fatalf("not ready at the end, but gopacket: %v (want a timeout)", err)
	}
	if races > rounds/4 {
		t.Fatalf("the peek missed a ready packet in %d of %d rounds: more than a block retiring between two looks", races, rounds)
	}
	t.Logf("%d packets in %d reads over %d blocks", got, reads, l.numBlocks[0])
}
