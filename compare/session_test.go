package compare

import (
	"strings"
	"testing"
)

func TestHTTPSessionPairsPipelinedRequests(t *testing.T) {
	h, _ := NewHTTP(HTTPRules{})
	s := NewHTTPSession(h, 0)
	client := "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /users/7 HTTP/1.1\r\nHost: x\r\n\r\n"
	online := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	target := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"
	// Responses arrive before the requests are framed: pairing waits.
	if err := s.Online([]byte(online[:20]), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Client([]byte(client)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Next(); ok {
		t.Fatal("paired before the responses were complete")
	}
	if err := s.Online([]byte(online[20:]), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Target([]byte(target), true); err != nil {
		t.Fatal(err)
	}
	x, ok := s.Next()
	if !ok || x.Endpoint() != "HEAD /a" || !x.Diff.Same() || len(x.Online.Body) != 0 {
		t.Fatalf("first: %+v %v", x, ok)
	}
	x, ok = s.Next()
	if !ok || x.Endpoint() != "GET /users/7" || x.Diff.Kinds != Status|Body {
		t.Fatalf("second: %+v %v", x.Diff, ok)
	}
	if _, ok := s.Next(); ok {
		t.Fatal("third exchange out of nowhere")
	}
	if err := s.Target([]byte("junk\r\n\r\n"), false); err == nil || !strings.HasPrefix(err.Error(), "target: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestRESPSessionSkipsPushes(t *testing.T) {
	s := NewRESPSession(0)
	s.Client([]byte("*2\r\n$3\r\nget\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"))
	if err := s.Online([]byte("$1\r\nv\r\n+PONG\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Target([]byte(">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nw\r\n+PONG\r\n")); err != nil {
		t.Fatal(err)
	}
	x, ok := s.Next()
	if !ok || x.Command != "GET" || x.Diff.Kinds != Body {
		t.Fatalf("first: %+v", x)
	}
	x, ok = s.Next()
	if !ok || x.Command != "PING" || !x.Diff.Same() || s.Pushes.Target != 1 {
		t.Fatalf("second: %+v pushes %+v", x, s.Pushes)
	}
}

func TestStreamCutsAtRequests(t *testing.T) {
	var s Stream
	s.Feed([]byte("banner")) // a banner before any request: part of the first response
	s.Request()
	s.Feed([]byte("one"))
	s.Request()
	s.Feed([]byte("tw"))
	s.Feed([]byte("o"))
	s.Close()
	var got []string
	for b, ok := s.Next(); ok; b, ok = s.Next() {
		got = append(got, string(b))
	}
	if strings.Join(got, "|") != "bannerone|two" {
		t.Fatalf("got %q", got)
	}
}
