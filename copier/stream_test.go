package copier

import (
	"math/rand/v2"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// The segment buffer against a byte-stream model: random segments with
// duplicates, overlaps and reordering, random acks, across seq wrap-around.
func TestSegmentBufferModel(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		const size = 20000
		stream := make([]byte, size)
		for i := range stream {
			stream[i] = byte(rnd.IntN(256))
		}
		buf := getPbuf(stream)
		iss := seqnum.Value(0xffffff00) // wraps
		s := &captured{nxt: iss}
		una := seqnum.Size(0)
		for range 3000 {
			a := rnd.IntN(size)
			b := min(size, a+1+rnd.IntN(3000))
			s.insert(seg{seq: iss.Add(seqnum.Size(a)), n: seqnum.Size(b - a), data: stream[a:b], buf: buf})
			if got := iss.Size(s.nxt); rnd.IntN(4) == 0 && got > una {
				una += seqnum.Size(rnd.IntN(int(got-una) + 1))
				s.freeAcked(iss.Add(una))
			}
			// Live segments stay sorted, disjoint and above una.
			live := s.live()
			for i := range live {
				if live[i].seq.LessThan(iss.Add(una)) && live[i].end().LessThanEq(iss.Add(una)) {
					t.Fatalf("seed %d: acked segment kept", seed)
				}
				if i > 0 && live[i].seq.LessThan(live[i-1].end()) {
					t.Fatalf("seed %d: overlapping segments", seed)
				}
			}
		}
		// Fill whatever is still missing, then read the stream back.
		s.insert(seg{seq: iss, n: size, data: stream, buf: buf})
		if s.nxt != iss.Add(size) || s.hasGap() {
			t.Fatalf("seed %d: capNxt %d, gap %v", seed, iss.Size(s.nxt), s.hasGap())
		}
		for q := una; q < size; {
			i := s.find(iss.Add(q))
			if i < 0 {
				t.Fatalf("seed %d: byte %d not found", seed, q)
			}
			g := &s.segs[i]
			off := g.seq.Size(iss.Add(q))
			if g.data[off] != stream[q] {
				t.Fatalf("seed %d: byte %d differs", seed, q)
			}
			q += g.n - off
		}
		if s.find(iss.Add(size)) != -1 {
			t.Fatal("found a segment past the end")
		}
		var sum int64
		for _, g := range s.live() {
			sum += int64(g.n)
		}
		if sum != s.buffered || sum != int64(size-int(una)) {
			t.Fatalf("seed %d: buffered %d, segments hold %d, want %d", seed, s.buffered, sum, size-int(una))
		}
		if freed := s.freeAll(); freed != sum || buf.refs != 1 {
			t.Fatalf("seed %d: freeAll %d, refs left %d", seed, freed, buf.refs)
		}
	}
}

// A retransmission spanning several holes fills all of them and keeps its
// FIN.
func TestSegmentSpanningHoles(t *testing.T) {
	data := []byte("0123456789")
	buf := getPbuf(data)
	s := &captured{nxt: 100}
	s.insert(seg{seq: 102, n: 2, data: data[2:4], buf: buf})
	s.insert(seg{seq: 106, n: 4, data: data[6:10], buf: buf})
	if !s.hasGap() {
		t.Fatal("no gap")
	}
	s.insert(seg{seq: 100, n: 10, data: data, buf: buf, fin: true})
	if s.hasGap() || s.nxt != 110 || !s.ctlSeen || s.ctlSeq != 110 {
		t.Fatalf("capNxt %d gap %v ctl %v@%d", s.nxt, s.hasGap(), s.ctlSeen, s.ctlSeq)
	}
	var got []byte
	for _, g := range s.live() {
		got = append(got, g.data...)
	}
	if string(got) != string(data) {
		t.Fatalf("buffer holds %q", got)
	}
}
