package httpframe

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// want is the observable part of a framed response.
type want struct {
	method string
	status int
	body   string
	info   []int
	trail  string // "Name: value" of one trailer, or ""
	size   int
}

func summarize(r Response) want {
	w := want{method: r.Method, status: r.Status, body: string(r.Body), info: r.Informational, size: r.Size}
	for k, v := range r.Trailer {
		w.trail = k + ": " + strings.Join(v, ",")
	}
	return w
}

// feedSplits feeds stream in two pieces split at every offset (and byte by
// byte), and checks the framed responses each time.
func feedSplits(t *testing.T, methods []string, stream string, close bool, wants []want) {
	t.Helper()
	splits := [][]int{}
	for i := 0; i <= len(stream); i++ {
		splits = append(splits, []int{i})
	}
	bytewise := make([]int, 0, len(stream))
	for i := 1; i < len(stream); i++ {
		bytewise = append(bytewise, i)
	}
	splits = append(splits, bytewise)
	for _, cuts := range splits {
		f := NewResponses(0)
		for _, m := range methods {
			f.Expect(m)
		}
		prev := 0
		for _, c := range append(cuts, len(stream)) {
			if err := f.Feed([]byte(stream[prev:c])); err != nil {
				t.Fatalf("cuts %v: feed: %v", cuts[:min(len(cuts), 3)], err)
			}
			prev = c
		}
		if close {
			if err := f.Close(); err != nil {
				t.Fatalf("cuts %v: close: %v", cuts[:min(len(cuts), 3)], err)
			}
		}
		var got []want
		for r, ok := f.Next(); ok; r, ok = f.Next() {
			got = append(got, summarize(r))
		}
		if !reflect.DeepEqual(got, wants) {
			t.Fatalf("cuts %v:\n got %+v\nwant %+v", cuts[:min(len(cuts), 3)], got, wants)
		}
		if f.Pending() != 0 {
			t.Fatalf("cuts %v: %d bytes left", cuts[:min(len(cuts), 3)], f.Pending())
		}
	}
}

// sampleResponses are response streams for the framer and Cutter tests.
func sampleResponses() (cl, chunked, trailer, zero, info, head, noContent, notMod, eof string) {
	cl = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	trailer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0;last\r\nX-Sum: 42\r\n\r\n"
	zero = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	info = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + cl
	head = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
	noContent = "HTTP/1.1 204 No Content\r\n\r\n"
	notMod = "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
	eof = "HTTP/1.0 200 OK\r\n\r\nuntil the end"
	return
}

func TestResponsesAtEverySplit(t *testing.T) {
	cl, chunked, trailer, zero, info, head, noContent, notMod, eof := sampleResponses()
	cases := []struct {
		name    string
		methods []string
		stream  string
		close   bool
		wants   []want
	}{
		{"content-length", nil, cl, false, []want{{"GET", 200, "hello", nil, "", len(cl)}}},
		{"chunked with extension", nil, chunked, false, []want{{"GET", 200, "hello world", nil, "", len(chunked)}}},
		{"chunked trailer", nil, trailer, false, []want{{"GET", 200, "abc", nil, "X-Sum: 42", len(trailer)}}},
		{"zero chunk only", nil, zero, false, []want{{"GET", 200, "", nil, "", len(zero)}}},
		{"informational before final", []string{"POST"}, info, false, []want{{"POST", 200, "hello", []int{100, 103}, "", len(info)}}},
		{"HEAD has no body", []string{"HEAD", "GET"}, head + cl, false, []want{
			{"HEAD", 200, "", nil, "", len(head)}, {"GET", 200, "hello", nil, "", len(cl)}}},
		{"pipelined keep-alive", []string{"GET", "PUT", "GET", "DELETE"}, cl + chunked + noContent + notMod, false, []want{
			{"GET", 200, "hello", nil, "", len(cl)}, {"PUT", 200, "hello world", nil, "", len(chunked)},
			{"GET", 204, "", nil, "", len(noContent)}, {"DELETE", 304, "", nil, "", len(notMod)}}},
		{"read until close", nil, cl + eof, true, []want{
			{"GET", 200, "hello", nil, "", len(cl)}, {"GET", 200, "until the end", nil, "", len(eof)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { feedSplits(t, c.methods, c.stream, c.close, c.wants) })
	}
}

func TestResponseUntilCloseWaits(t *testing.T) {
	f := NewResponses(0)
	if err := f.Feed([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart")); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Next(); ok {
		t.Fatal("body delimited by close framed before the close")
	}
	if err := f.Feed([]byte(" two")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, ok := f.Next()
	if !ok || string(r.Body) != "part two" || !r.UntilClose {
		t.Fatalf("got %+v %v", r, ok)
	}
}

func TestResponseSwitchingProtocols(t *testing.T) {
	f := NewResponses(0)
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"
	if err := f.Feed([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := f.Feed([]byte("more")); err != nil {
		t.Fatal(err)
	}
	r, ok := f.Next()
	if !ok || r.Status != 101 || !f.Upgraded() || f.Opaque != 7+4 {
		t.Fatalf("got %+v ok=%v upgraded=%v opaque=%d", r, ok, f.Upgraded(), f.Opaque)
	}
}

func TestResponseErrors(t *testing.T) {
	cases := []struct {
		name, stream, wantErr string
		close                 bool
	}{
		{"garbage status line", "HTTP/1.1 abc\r\n\r\n", "malformed HTTP status code", false},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", "malformed HTTP", false},
		{"truncated at close", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "stream ended inside a response", true},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := NewResponses(0)
			err := f.Feed([]byte(c.stream))
			if err == nil && c.close {
				err = f.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "stream offset") {
				t.Fatalf("err = %v, want one naming %q and the offset", err, c.wantErr)
			}
		})
	}
}

func TestResponseTooLarge(t *testing.T) {
	f := NewResponses(64)
	err := f.Feed([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 100)))
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestsAtEverySplit(t *testing.T) {
	stream := "GET /users/12?x=1 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
		"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
		"HEAD / HTTP/1.1\r\nHost: b\r\n\r\n"
	want := []string{"GET /users/12?x=1 /users/12 a ", "POST /items /items a abc", "PUT /c /c a hi", "HEAD / / b "}
	for i := 0; i <= len(stream); i++ {
		f := NewRequests(0)
		for _, part := range []string{stream[:i], stream[i:]} {
			if err := f.Feed([]byte(part)); err != nil {
				t.Fatalf("split %d: %v", i, err)
			}
		}
		var got []string
		total := 0
		for r, ok := f.Next(); ok; r, ok = f.Next() {
			got = append(got, fmt.Sprintf("%s %s %s %s %s", r.Method, r.Target, r.Path, r.Host, r.Body))
			if int(r.Offset) != total {
				t.Fatalf("split %d: offset %d, want %d", i, r.Offset, total)
			}
			total += r.Size
		}
		if !reflect.DeepEqual(got, want) || total != len(stream) {
			t.Fatalf("split %d: got %q (%d bytes), want %q", i, got, total, want)
		}
	}
}

// TestLargeBodyParsedOnce: a body arriving in many segments is parsed
// once it is all there, not once per segment.
func TestLargeBodyParsedOnce(t *testing.T) {
	body := strings.Repeat("0123456789", 100_000)
	var chunked strings.Builder
	chunked.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i := 0; i < len(body); i += 10_000 {
		fmt.Fprintf(&chunked, "%x;ext=1\r\n%s\r\n", 10_000, body[i:i+10_000])
	}
	chunked.WriteString("0\r\nX-T: 1\r\n\r\n")
	streams := map[string]string{
		"content-length": fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body),
		"chunked":        chunked.String(),
	}
	for name, s := range streams {
		f := NewResponses(0)
		for i := 0; i < len(s); i += 1000 {
			if err := f.Feed([]byte(s[i:min(len(s), i+1000)])); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		r, ok := f.Next()
		if !ok || string(r.Body) != body || r.Size != len(s) {
			t.Fatalf("%s: framed %v, %d body bytes", name, ok, len(r.Body))
		}
		if f.b.parses != 1 {
			t.Fatalf("%s: parsed %d times, want 1", name, f.b.parses)
		}
	}
	req := fmt.Sprintf("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	q := NewRequests(0)
	for i := 0; i < len(req); i += 1000 {
		if err := q.Feed([]byte(req[i:min(len(req), i+1000)])); err != nil {
			t.Fatal(err)
		}
	}
	if r, ok := q.Next(); !ok || len(r.Body) != len(body) || q.b.parses != 1 {
		t.Fatalf("request: %v, %d bytes, %d parses", ok, len(r.Body), q.b.parses)
	}
}

func TestHeadEnd(t *testing.T) {
	cases := map[string]int{"a\r\n\r\nb": 5, "a\n\nb": 3, "a\r\nb\r\n": -1, "\r\n": -1, "a\nb\n\r\nx": 6, "": -1}
	for in, want := range cases {
		if got := headEnd([]byte(in)); got != want {
			t.Errorf("%q: %d, want %d", in, got, want)
		}
	}
}
