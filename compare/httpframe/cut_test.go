package httpframe

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// span is one message as a Cutter saw it: stream offsets of its first
// byte and just past its last.
type span struct{ start, end int64 }

// cutAll feeds stream to c in pieces cut at cuts and returns the spans
// (end -1: not ended) and the error.
func cutAll(c *Cutter, stream []byte, cuts []int, close bool) ([]span, error) {
	var out []span
	prev := 0
	for _, k := range append(cuts, len(stream)) {
		p := stream[prev:k]
		base := int64(prev)
		for off := 0; off < len(p); {
			n, ev := c.Step(p[off:])
			if n <= 0 {
				panic("Step consumed nothing")
			}
			if ev&Start != 0 {
				out = append(out, span{base + int64(off), -1})
			}
			if ev&End != 0 && len(out) > 0 {
				out[len(out)-1].end = base + int64(off+n)
			}
			off += n
		}
		prev = k
	}
	if close && c.Close()&End != 0 && len(out) > 0 {
		out[len(out)-1].end = int64(len(stream))
	}
	return out, c.Err()
}

// splits are every two-piece cut and the byte-by-byte feed.
func splits(n int) [][]int {
	out := [][]int{}
	for i := 0; i <= n; i++ {
		out = append(out, []int{i})
	}
	var bytewise []int
	for i := 1; i < n; i++ {
		bytewise = append(bytewise, i)
	}
	return append(out, bytewise)
}

// framerResponses is what the net/http-based framer makes of a stream.
func framerResponses(methods []string, stream string) ([]span, error) {
	f := NewResponses(0)
	for _, m := range methods {
		f.Expect(m)
	}
	err := f.Feed([]byte(stream))
	if err == nil {
		err = f.Close()
	}
	var out []span
	for r, ok := f.Next(); ok; r, ok = f.Next() {
		out = append(out, span{r.Offset, r.Offset + int64(r.Size)})
	}
	return out, err
}

func framerRequests(stream string) ([]span, error) {
	f := NewRequests(0)
	err := f.Feed([]byte(stream))
	var out []span
	for r, ok := f.Next(); ok; r, ok = f.Next() {
		out = append(out, span{r.Offset, r.Offset + int64(r.Size)})
	}
	if err == nil && f.Pending() > 0 {
		err = fmt.Errorf("%d bytes left", f.Pending())
	}
	return out, err
}

func methodsOf(names []string) []Method {
	var ms []Method
	for _, n := range names {
		ms = append(ms, lookupMethod([]byte(n)))
	}
	return ms
}

// The Cutter finds exactly the boundaries the framer finds, at every
// split of the stream.
func TestCutterResponsesMatchFramer(t *testing.T) {
	cl, chunked, trailer, _, info, head, noContent, notMod, eof := sampleResponses()
	bigChunk := "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"
	zeroLen := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		name    string
		methods []string
		stream  string
	}{
		{"content-length", nil, cl},
		{"pipelined", []string{"GET", "GET", "GET"}, cl + chunked + cl},
		{"chunked extensions", nil, chunked},
		{"trailer", nil, trailer},
		{"chunk size with space", nil, bigChunk},
		{"informational", nil, info},
		{"head then get", []string{"HEAD", "GET"}, head + cl},
		{"204 304", []string{"GET", "GET", "GET"}, noContent + notMod + cl},
		{"zero length, close", nil, zeroLen},
		{"until close", []string{"GET", "GET"}, cl + eof},
		{"bare LF", nil, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := framerResponses(tc.methods, tc.stream)
			if err != nil {
				t.Fatalf("framer: %v", err)
			}
			for _, cuts := range splits(len(tc.stream)) {
				var c Cutter
				c.Init(true)
				for _, m := range methodsOf(tc.methods) {
					c.Expect(m)
				}
				got, err := cutAll(&c, []byte(tc.stream), cuts, true)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("cuts %v: got %v, %v; want %v", cuts[:min(3, len(cuts))], got, err, want)
				}
			}
		})
	}
}

func TestCutterRequestsMatchFramer(t *testing.T) {
	get := "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
	post := "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
	chunked := "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\n"
	for _, tc := range []struct{ name, stream string }{
		{"one", get},
		{"pipelined", get + post + chunked + get},
		{"close", "GET / HTTP/1.0\r\nConnection: close\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := framerRequests(tc.stream)
			if err != nil {
				t.Fatalf("framer: %v", err)
			}
			for _, cuts := range splits(len(tc.stream)) {
				var c Cutter
				c.Init(false)
				got, err := cutAll(&c, []byte(tc.stream), cuts, false)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("cuts %v: got %v, %v; want %v", cuts[:min(3, len(cuts))], got, err, want)
				}
				if c.Requests() != len(want) {
					t.Fatalf("%d request lines, want %d", c.Requests(), len(want))
				}
			}
		})
	}
}

// The Cutter is more lenient than net/http where framing is still clear:
// blank lines between requests (RFC 9112 2.2), a coding before chunked.
func TestCutterLenient(t *testing.T) {
	post := "POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
	get := "GET / HTTP/1.1\r\n\r\n"
	var c Cutter
	c.Init(false)
	got, err := cutAll(&c, []byte(post+"\r\n"+get), []int{len(post) + 1}, false)
	want := []span{{0, int64(len(post))}, {int64(len(post) + 2), int64(len(post + "\r\n" + get))}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("blank line: %v %v, want %v", got, err, want)
	}
	c.Init(true)
	r := "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"
	if got, err := cutAll(&c, []byte(r), nil, false); err != nil || len(got) != 1 || got[0].end != int64(len(r)) {
		t.Fatalf("gzip, chunked: %v %v", got, err)
	}
}

// Upgrades and tunnels end framing; what follows is consumed without events.
func TestCutterOpaque(t *testing.T) {
	var c Cutter
	c.Init(true)
	c.Expect(MethodGet)
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello HTTP/1.1 200 OK\r\n\r\n"
	got, err := cutAll(&c, []byte(s), nil, false)
	if err != nil || len(got) != 1 || got[0].end != int64(strings.Index(s, "\x81")) || !c.Opaque() {
		t.Fatalf("101: %v %v opaque %v", got, err, c.Opaque())
	}
	c.Init(true)
	c.Expect(MethodConnect)
	s = "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01"
	if got, _ := cutAll(&c, []byte(s), nil, false); len(got) != 1 || !c.Opaque() {
		t.Fatalf("CONNECT: %v", got)
	}
	c.Init(false)
	s = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x85garbage"
	if got, err := cutAll(&c, []byte(s), nil, false); err != nil || len(got) != 1 || !c.Opaque() {
		t.Fatalf("upgrade request: %v %v", got, err)
	}
}

// Streams that are not HTTP fail with the offset; later bytes are taken
// without events.
func TestCutterErrors(t *testing.T) {
	for _, tc := range []struct {
		response bool
		stream   string
		want     string
	}{
		{false, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", "bad request line"},
		{false, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "bad Content-Length"},
		{false, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "bad Content-Length"},
		{false, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "not chunked"},
		{false, "GET / HTTP/1.1\r\nno colon\r\n\r\n", "bad header line"},
		{true, "HTTP/1.1 2x0 OK\r\n\r\n", "bad status"},
		{true, "SSH-2.0-OpenSSH_9.6\r\n", "bad status line"},
		{true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"},
		{true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabX\r\n", "not followed by CRLF"},
	} {
		var c Cutter
		c.Init(tc.response)
		_, err := cutAll(&c, []byte(tc.stream+"more bytes\r\n"), []int{3}, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "stream offset") {
			t.Errorf("%q: err %v, want %q", tc.stream, err, tc.want)
		}
		if n, ev := c.Step([]byte("GET / HTTP/1.1\r\n\r\n")); n != 18 || ev != 0 {
			t.Errorf("%q: after the error Step = %d, %v", tc.stream, n, ev)
		}
	}
	var c Cutter
	c.Init(false)
	long := "GET /" + strings.Repeat("a", MaxHead) + " HTTP/1.1\r\n\r\n"
	if _, err := cutAll(&c, []byte(long), []int{100}, false); err == nil || !strings.Contains(err.Error(), "head longer") {
		t.Fatalf("long head: %v", err)
	}
}

// A resynced cutter skips to the first start line and frames from there.
func TestCutterResync(t *testing.T) {
	var c Cutter
	c.Init(false)
	c.Resync()
	tail := "dy of an earlier request\r\nmore\r\n"
	get := "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
	got, err := cutAll(&c, []byte(tail+get+get), []int{5, len(tail)}, false)
	want := []span{{int64(len(tail)), int64(len(tail + get))}, {int64(len(tail + get)), int64(len(tail + get + get))}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v %v, want %v", got, err, want)
	}
}

// A late Expect for a response already framed does not shift the queue.
func TestCutterEarlyResponse(t *testing.T) {
	var c Cutter
	c.Init(true)
	r413 := "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"
	head := "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"
	if got, _ := cutAll(&c, []byte(r413), nil, false); len(got) != 1 || got[0].end < 0 {
		t.Fatalf("413: %v", got)
	}
	c.Expect(MethodPost) // the request the 413 answered
	c.Expect(MethodHead)
	if got, _ := cutAll(&c, []byte(head), nil, false); len(got) != 1 || got[0].end != int64(len(head)) {
		t.Fatalf("HEAD response after a late Expect: %v", got)
	}
}

func TestCutterNoAllocs(t *testing.T) {
	req := []byte("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
	resp := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	var rq, rs Cutter
	rq.Init(false)
	rs.Init(true)
	n := testing.AllocsPerRun(1000, func() {
		for p := req[:20]; len(p) > 0; {
			k, _ := rq.Step(p)
			p = p[k:]
		}
		for p := req[20:]; len(p) > 0; {
			k, _ := rq.Step(p)
			p = p[k:]
		}
		rs.Expect(rq.Method())
		for p := resp; len(p) > 0; {
			k, _ := rs.Step(p)
			p = p[k:]
		}
	})
	if n != 0 || rq.Err() != nil || rs.Err() != nil {
		t.Fatalf("%v allocations per exchange, errs %v %v", n, rq.Err(), rs.Err())
	}
}
