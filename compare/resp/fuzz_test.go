package resp

import (
	"bytes"
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
