package httpframe

import (
	"bytes"
	"fmt"
	"testing"
)

type framed struct {
	status, size int
	body         []byte
}

func frameAll(stream []byte, cut int, head bool) ([]framed, error) {
	r := NewResponses(1 << 16)
	if head {
		r.Expect("HEAD")
	}
	err := r.Feed(stream[:cut])
	if err == nil {
		err = r.Feed(stream[cut:])
	}
	if err == nil {
		err = r.Close()
	}
	var out []framed
	for m, ok := r.Next(); ok; m, ok = r.Next() {
		out = append(out, framed{m.Status, m.Size, m.Body})
	}
	return out, err
}

// FuzzResponses: any stream, cut anywhere, frames exactly as when fed
// whole, and the framed sizes never exceed the bytes fed.
func FuzzResponses(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), uint8(7), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n"), uint8(20), false)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nrest"), uint8(3), true)
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8, head bool) {
		c := int(cut) % (len(stream) + 1)
		whole, errWhole := frameAll(stream, len(stream), head)
		split, errSplit := frameAll(stream, c, head)
		if (errWhole == nil) != (errSplit == nil) || len(whole) != len(split) {
			t.Fatalf("whole: %d messages, err %v; split at %d: %d messages, err %v", len(whole), errWhole, c, len(split), errSplit)
		}
		total := 0
		for i := range whole {
			a, b := whole[i], split[i]
			if a.status != b.status || a.size != b.size || !bytes.Equal(a.body, b.body) {
				t.Fatalf("message %d: whole %d/%d bytes, split %d/%d bytes", i, a.status, a.size, b.status, b.size)
			}
			total += a.size
		}
		if total > len(stream) {
			t.Fatalf("framed %d bytes of %d", total, len(stream))
		}
		q := NewRequests(1 << 16)
		_ = q.Feed(stream[:c])
		_ = q.Feed(stream[c:])
	})
}

// FuzzCutter: the Cutter cuts a stream fed in two pieces as it cuts it fed
// whole, never consumes nothing, and where both it and the net/http
// framer accept a response stream they find the same messages.
func FuzzCutter(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n"), uint8(7), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n"), uint8(20), true)
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET /b HTTP/1.0\r\n\r\n"), uint8(3), false)
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8, response bool) {
		k := int(cut) % (len(stream) + 1)
		var a, b Cutter
		a.Init(response)
		b.Init(response)
		whole, errW := cutAll(&a, stream, nil, true)
		split, errS := cutAll(&b, stream, []int{k}, true)
		if (errW == nil) != (errS == nil) || fmt.Sprint(whole) != fmt.Sprint(split) {
			t.Fatalf("whole %v (%v), split at %d %v (%v)", whole, errW, k, split, errS)
		}
		if !response || errW != nil || bytes.ContainsAny(stream, "\x00") {
			return
		}
		framed, err := framerResponses(nil, string(stream))
		if err != nil {
			return
		}
		var ended []span
		for _, s := range whole {
			if s.end >= 0 {
				ended = append(ended, s)
			}
		}
		if fmt.Sprint(framed) != fmt.Sprint(ended) {
			t.Fatalf("framer %v, cutter %v", framed, ended)
		}
	})
}
