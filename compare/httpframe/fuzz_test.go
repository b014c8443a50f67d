package httpframe

import "testing"

// FuzzResponses: any stream, cut anywhere, frames without panicking, and
// the framed sizes never exceed the bytes fed.
func FuzzResponses(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), uint8(7), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n"), uint8(20), false)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nrest"), uint8(3), true)
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8, head bool) {
		r := NewResponses(1 << 16)
		if head {
			r.Expect("HEAD")
		}
		c := int(cut) % (len(stream) + 1)
		_ = r.Feed(stream[:c])
		_ = r.Feed(stream[c:])
		_ = r.Close()
		total := 0
		for m, ok := r.Next(); ok; m, ok = r.Next() {
			total += m.Size
		}
		if total > len(stream) {
			t.Fatalf("framed %d bytes of %d", total, len(stream))
		}
		q := NewRequests(1 << 16)
		_ = q.Feed(stream[:c])
		_ = q.Feed(stream[c:])
	})
}
