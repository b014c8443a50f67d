package copier

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/seqnum"

	"github.com/replaygw/replaygw/wire"
)

func TestTombstones(t *testing.T) {
	tu := wire.Tuple{Client: client4, Target: online4}
	other := wire.Tuple{Client: client4, Target: online6}
	const synSeq = seqnum.Value(1000)
	sec := int64(time.Second)
	tests := []struct {
		name  string
		tuple wire.Tuple
		syn   bool
		seq   seqnum.Value
		at    int64 // after the end
		want  bool
		kept  bool // the tombstone is still there afterwards
	}{
		{"late data", tu, false, 2000, sec, true, true},
		{"retransmitted SYN", tu, true, synSeq, sec, true, true},
		{"new SYN on the tuple", tu, true, 5000, sec, false, false},
		{"another tuple", other, false, 2000, sec, false, true},
	}
	for _, tt := range tests {
		w := &worker{groups: map[wire.Tuple]*group{}, tombs: map[tupleKey]tomb{}}
		g := &group{orig: tu, syn: capturedSYN{seen: true, seq: synSeq}}
		w.groups[tu] = g
		w.tombstone(g, 0)
		if _, ok := w.groups[tu]; ok || !g.dead {
			t.Fatalf("%s: the ended group is still in the table", tt.name)
		}
		p := &capPkt{orig: tt.tuple, seq: tt.seq}
		if got := w.absorbed(p, tt.syn, tt.at); got != tt.want {
			t.Errorf("%s: absorbed = %v, want %v", tt.name, got, tt.want)
		}
		if _, ok := w.tombs[keyOf(tu)]; ok != tt.kept {
			t.Errorf("%s: tombstone kept = %v, want %v", tt.name, ok, tt.kept)
		}
		if tt.want && w.tombs[keyOf(tu)].until != tt.at+tombLinger {
			t.Errorf("%s: a straggler did not extend the linger", tt.name)
		}
	}
}

func TestTombstonesExpire(t *testing.T) {
	w := &worker{groups: map[wire.Tuple]*group{}, tombs: map[tupleKey]tomb{}}
	n := tombsShrink + 1
	for i := range n {
		tu := wire.Tuple{Client: netip.AddrPortFrom(client4.Addr(), uint16(1024+i)), Target: online4}
		w.tombstone(&group{orig: tu}, int64(i))
	}
	w.sweepTombs(tombLinger + int64(n/2))
	if got := len(w.tombs); got != n-n/2-1 {
		t.Fatalf("%d tombstones after half the linger ran out, want %d", got, n-n/2-1)
	}
	w.sweepTombs(tombLinger + int64(n))
	if len(w.tombs) != 0 || w.tombsPeak != 0 {
		t.Fatalf("after the linger: %d tombstones, peak %d; want a new empty map", len(w.tombs), w.tombsPeak)
	}
	p := &capPkt{orig: wire.Tuple{Client: netip.AddrPortFrom(client4.Addr(), 1024), Target: online4}}
	if w.absorbed(p, false, tombLinger+int64(n)) {
		t.Fatal("an expired tombstone absorbed a packet")
	}
}
