package role

import (
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/store"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/wire"
)

func testCompareConfig(t *testing.T) *configs.Compare {
	c := &configs.Compare{Enabled: true, Store: t.TempDir(), IgnoreJSON: []string{"$.ts"}}
	cfg := &configs.Config{Compare: c}
	cfg.SetDefaults()
	return c
}

func openTestSink(t *testing.T) *CompareSink {
	t.Helper()
	s, err := OpenCompareSink(testCompareConfig(t), metrics.New("gateway"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// results closes s and returns its results by request number.
func results(t *testing.T, s *CompareSink) map[int]store.Result {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := map[int]store.Result{}
	if err := store.Scan(s.Dir(), func(r store.Result) error { out[r.Request] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func httpResp(status, ctype, body string, hdr ...string) []byte {
	h := "HTTP/1.1 " + status + "\r\nContent-Type: " + ctype + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	for _, x := range hdr {
		h += x + "\r\n"
	}
	return []byte(h + "\r\n" + body)
}

func xchg(proto string, req int, online, target []byte) *wire.Exchange {
	return &wire.Exchange{Protocol: proto, Request: uint32(req), Conn: 7, Key: "GET /u/1", RequestData: []byte("GET /u/1 HTTP/1.1\r\n\r\n"),
		OnlineData: online, TargetData: target, OnlineSent: 1e9, OnlineLast: 1e9 + 2e6, TargetSent: 5e9, TargetFirst: 5e9 + 1e6, TargetLast: 5e9 + 3e6}
}

// Each protocol's responses are compared by its differ; the noise rules
// of [compare] apply; the results land in the store with times and
// endpoint.
func TestCompareSinkDiffs(t *testing.T) {
	s := openTestSink(t)
	cases := []struct {
		x         *wire.Exchange
		kinds     compare.Kind
		field     string
		targetErr bool
	}{
		// 0: the same answer, only an ignored header and JSON path differ.
		{xchg("http", 0, httpResp("200 OK", "application/json", `{"a":1,"ts":5}`, "Date: Mon"), httpResp("200 OK", "application/json", `{"a":1,"ts":9}`, "Date: Tue")), 0, "", false},
		// 1: status and a JSON field.
		{xchg("http", 1, httpResp("200 OK", "application/json", `{"a":1}`), httpResp("500 Oops", "application/json", `{"a":2}`)), compare.Status | compare.Body, "a", true},
		// 2: a header.
		{xchg("http", 2, httpResp("200 OK", "text/plain", "x", "X-Mode: a"), httpResp("200 OK", "text/plain", "x", "X-Mode: b")), compare.Headers, "x-mode", false},
		// 3: RESP replies.
		{xchg("redis", 3, []byte("$3\r\nbar\r\n"), []byte("-ERR no\r\n")), compare.Status, "", true},
		// 4: MySQL results (protocol/mysql's JSON).
		{xchg("mysql", 4, []byte(`{"class":"rows","columns":2,"rows":3,"digest":"aa"}`), []byte(`{"class":"rows","columns":2,"rows":3,"digest":"bb"}`)), compare.Body, "digest", false},
		// 5: bytes.
		{xchg("tcp", 5, []byte("hello"), []byte("help!")), compare.Body, "", false},
		// 6: not HTTP at all: compared as bytes, counted.
		{xchg("http", 6, []byte("garbage"), []byte("garbage")), 0, "", false},
	}
	for _, c := range cases {
		s.Exchange([16]byte{1}, c.x)
	}
	got := results(t, s)
	for i, c := range cases {
		r, ok := got[i]
		if !ok {
			t.Errorf("request %d: no result", i)
			continue
		}
		if r.Kinds != c.kinds || r.TargetError != c.targetErr {
			t.Errorf("request %d: kinds %v (want %v), target error %v: %s", i, r.Kinds, c.kinds, r.TargetError, r.Desc)
		}
		if c.field != "" && (len(r.Fields) == 0 || !strings.Contains(r.Fields[len(r.Fields)-1].Name, c.field)) {
			t.Errorf("request %d: fields %v, want %q", i, r.Fields, c.field)
		}
		if r.Endpoint != "GET /u/1" || r.OnlineMs != 2 || r.TargetMs != 3 || r.Protocol != c.x.Protocol {
			t.Errorf("request %d: endpoint %q, online %v ms, target %v ms, proto %q", i, r.Endpoint, r.OnlineMs, r.TargetMs, r.Protocol)
		}
	}
	st := s.Stats()
	if st.Compared.Load() != 7 || st.Differing.Load() != 5 || st.Status.Load() != 2 || st.Headers.Load() != 1 || st.Body.Load() != 3 || st.FramingFails.Load() != 1 {
		t.Fatalf("stats: compared %d differing %d status %d headers %d body %d framing %d", st.Compared.Load(), st.Differing.Load(),
			st.Status.Load(), st.Headers.Load(), st.Body.Load(), st.FramingFails.Load())
	}
	n := 0
	if err := store.ScanExamples(s.Dir(), func(e store.Example) error { n++; return nil }); err != nil || n == 0 {
		t.Fatalf("examples: %d, %v", n, err)
	}
	c, err := store.ReadCounts(s.Dir())
	if err != nil || c.Exchanges != 7 || c.Differing != 5 {
		t.Fatalf("counts %+v, %v", c, err)
	}
}

// A route with a noise target: the main exchange waits for its noise twin
// (matched by copier, route, connection and request), whichever comes
// first; what production also shows against the twin is noise; a main
// whose twin never comes is compared alone at the end.
func TestCompareSinkNoisePairing(t *testing.T) {
	s := openTestSink(t)
	on := httpResp("200 OK", "application/json", `{"id":1,"nonce":"a","v":1}`)
	tg := httpResp("200 OK", "application/json", `{"id":1,"nonce":"b","v":2}`)
	nz := httpResp("200 OK", "application/json", `{"id":1,"nonce":"c","v":1}`)
	main := func(req int, conn uint64) *wire.Exchange {
		x := xchg("http", req, on, tg)
		x.Conn, x.Flags = conn, wire.ExchangeHasNoise
		return x
	}
	noise := func(req int, conn uint64) *wire.Exchange {
		x := xchg("http", req, on, nz)
		x.Conn, x.Flags = conn, wire.ExchangeNoise|wire.ExchangeHasNoise
		return x
	}
	from := [16]byte{9}
	s.Exchange(from, main(0, 1))  // main first
	s.Exchange(from, noise(0, 1)) // then its twin
	s.Exchange(from, noise(1, 1)) // twin first
	s.Exchange(from, main(1, 1))
	s.Exchange(from, main(2, 2))         // no twin ever
	s.Exchange([16]byte{8}, noise(2, 2)) // another copier's connection 2: not a twin
	got := results(t, s)
	if len(got) != 3 {
		t.Fatalf("%d results, want 3 (noise exchanges are not results)", len(got))
	}
	for _, req := range []int{0, 1} {
		r := got[req]
		if len(r.Noise) != 1 || r.Noise[0].Name != "$.nonce" || len(r.Fields) != 1 || r.Fields[0].Name != "$.v" {
			t.Errorf("request %d: fields %v noise %v", req, r.Fields, r.Noise)
		}
	}
	if r := got[2]; len(r.Noise) != 0 || len(r.Fields) != 2 {
		t.Errorf("unpaired request: fields %v noise %v", r.Fields, r.Noise)
	}
	st := s.Stats()
	if st.NoiseIn.Load() != 3 || st.Noisy.Load() != 2 || st.Unpaired.Load() != 1 {
		t.Fatalf("noise in %d, noisy %d, unpaired %d", st.NoiseIn.Load(), st.Noisy.Load(), st.Unpaired.Load())
	}
}

// Each run gets its own store directory; Exchange after Close is ignored.
func TestCompareSinkRunDirs(t *testing.T) {
	cfg := testCompareConfig(t)
	var dirs []string
	for i := 0; i < 2; i++ {
		s, err := OpenCompareSink(cfg, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, s.Dir())
		s.Close()
		s.Exchange([16]byte{}, xchg("tcp", 0, nil, nil))
	}
	ents, _ := os.ReadDir(cfg.Store)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 2 || dirs[0] == dirs[1] || filepath.Dir(dirs[0]) != cfg.Store {
		t.Fatalf("run dirs %v under %s", names, cfg.Store)
	}
}
