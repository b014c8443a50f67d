package lab

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The target build differs from production exactly on the requests its
// options name, and the body keeps its length.
func TestCompareServerBuilds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewCompareServer(ln, CompareServerOptions{StatusEvery: 97, HeaderEvery: 50, JSONEvery: 20, Slow: 30 * time.Millisecond})
	defer s.Close()
	o := CompareLoadOptions{SlowEvery: 10, SlowAt: 5, IDPrefix: "u"}
	tests := []struct {
		n      int
		status int
		extra  bool
		color  string
		slow   bool
	}{
		{1, 200, false, "red", false},
		{5, 200, false, "red", true},
		{20, 200, false, "tan", false},
		{50, 200, true, "red", false},
		{97, 503, false, "red", false},
		{100, 200, true, "tan", false},
	}
	for _, tt := range tests {
		t0 := time.Now()
		resp, err := http.Get("http://" + ln.Addr().String() + o.CompareRequestPath(tt.n))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(t0)
		if resp.StatusCode != tt.status || (resp.Header.Get("X-Extra") != "") != tt.extra ||
			!strings.Contains(string(b), `"color":"`+tt.color+`"`) || resp.Header.Get("X-Random") != "" {
			t.Errorf("request %d: %d %v %s, want %d extra=%v color %s", tt.n, resp.StatusCode, resp.Header, b, tt.status, tt.extra, tt.color)
		}
		if len(b) != len(`{"id":"u-`)+len(`","n":`)+2*len(strconv.Itoa(tt.n))+len(`,"color":"red"}`+"\n") {
			t.Errorf("request %d: body %q has not the fixed shape", tt.n, b)
		}
		if tt.slow && took < 30*time.Millisecond {
			t.Errorf("request %d on the slow path took %v", tt.n, took)
		}
	}
	if s.Seen() != len(tests) || !s.SeenID("u-97") {
		t.Errorf("seen %d ids, want %d with u-97", s.Seen(), len(tests))
	}
}
