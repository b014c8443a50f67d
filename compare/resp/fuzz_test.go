package resp

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzFramer: any stream, cut anywhere, frames the same replies as when
// fed whole, and the raw bytes of the replies are a prefix of the stream.
func FuzzFramer(f *testing.F) {
	for _, r := range replies {
		f.Add([]byte(r.wire), uint8(len(r.wire)/2))
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8) {
		whole := NewFramer(1 << 16)
		errWhole := whole.Feed(stream)
		split := NewFramer(1 << 16)
		c := int(cut) % (len(stream) + 1)
		errSplit := split.Feed(stream[:c])
		if errSplit == nil {
			errSplit = split.Feed(stream[c:])
		}
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole err %v, split err %v", errWhole, errSplit)
		}
		var raw []byte
		for {
			a, okA := whole.Next()
			b, okB := split.Next()
			if okA != okB || !bytes.Equal(a.Raw, b.Raw) {
				t.Fatalf("whole and split framing differ: %q vs %q", a.Raw, b.Raw)
			}
			if !okA {
				break
			}
			raw = append(raw, a.Raw...)
		}
		if !bytes.HasPrefix(stream, raw) {
			t.Fatalf("framed bytes are not a prefix of the stream")
		}
	})
}

// FuzzCutter: a Cutter finds the same ends fed whole or byte by byte, on
// either side, and on a reply stream the same ends as the Framer for the
// replies the Framer framed (the Cutter may frame on where the Framer
// finds a value malformed, and stops only where the framing itself is).
func FuzzCutter(f *testing.F) {
	for _, r := range replies {
		f.Add([]byte(r.wire), false)
	}
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"), true)
	f.Fuzz(func(t *testing.T, stream []byte, client bool) {
		whole, _, cw := cut(client, false, string(stream), len(stream), 0)
		bytewise, _, cb := cut(client, false, string(stream), 0, 1)
		if fmt.Sprint(whole) != fmt.Sprint(bytewise) || (cw.Err() == nil) != (cb.Err() == nil) {
			t.Fatalf("whole %v (err %v) vs byte by byte %v (err %v)", whole, cw.Err(), bytewise, cb.Err())
		}
		if client {
			return
		}
		fr := NewFramer(1 << 20)
		fr.Feed(stream)
		var framed []int
		off := 0
		for r, ok := fr.Next(); ok; r, ok = fr.Next() {
			off += len(r.Raw)
			framed = append(framed, off)
		}
		for k := range min(len(framed), len(whole)) {
			if framed[k] != whole[k].end {
				t.Fatalf("reply %d: framer ends at %d, cutter at %d", k, framed[k], whole[k].end)
			}
		}
		if len(whole) < len(framed) && cw.Err() == nil {
			t.Fatalf("cutter found %d replies, framer %d", len(whole), len(framed))
		}
	})
}
