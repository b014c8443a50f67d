package mysql

import "testing"

// The framer gives each packet the arrival time of its first byte, across
// pushes that cut packets anywhere, and keeps no more marks than it holds
// bytes for.
func TestFramerArrival(t *testing.T) {
	a := pkt(0, []byte("first"))  // 9 bytes
	b := pkt(0, []byte("second")) // 10 bytes
	c := pkt(0, []byte("third"))  // 9 bytes
	stream := append(append(append([]byte{}, a...), b...), c...)
	for _, tc := range []struct {
		name  string
		cuts  []int   // push boundaries in stream
		want  []int64 // arrival of a, b, c
		marks int     // marks left after the last packet
	}{
		{"one push", []int{len(stream)}, []int64{1, 1, 1}, 0},
		{"a packet per push", []int{9, 19, 28}, []int64{1, 2, 3}, 0},
		{"cut inside b", []int{12, 28}, []int64{1, 1, 2}, 0},
		{"header cut", []int{2, 9, 11, 28}, []int64{1, 3, 4}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f framer
			prev := 0
			for i, cut := range tc.cuts {
				f.pushAt(stream[prev:cut], int64(i+1))
				prev = cut
			}
			for i, want := range tc.want {
				raw, ok := f.peek()
				if !ok {
					t.Fatalf("packet %d: not complete", i)
				}
				if got := f.at(); got != want {
					t.Errorf("packet %d arrived at %d, want %d", i, got, want)
				}
				f.next(raw)
			}
			if len(f.marks) != tc.marks || f.held() != 0 {
				t.Errorf("%d marks and %d bytes left", len(f.marks), f.held())
			}
		})
	}
}
