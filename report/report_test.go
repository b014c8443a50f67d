package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/httpframe"
	"github.com/replaygw/replaygw/compare/store"
)

// synthetic writes n exchanges through the real HTTP differ: the status
// differs on every 97th, the target adds a header on every 50th, a JSON
// field differs on every 20th, and /slow answers 20 ms later on the target.
func synthetic(t *testing.T, n int) (dir string, want map[string]int64) {
	t.Helper()
	dir = t.TempDir()
	w, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := compare.NewHTTP(compare.HTTPRules{IgnoreJSON: []string{"$.meta.ts"}})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]int64{}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		mk := func(status int, extra bool, name string) *httpframe.Response {
			hd := map[string][]string{"Content-Type": {"application/json"}, "Date": {time.Now().String()}}
			if extra {
				hd["X-Extra"] = []string{"1"}
			}
			body := fmt.Sprintf(`{"id":%d,"name":%q,"meta":{"ts":%d},"link":"http://example.com/<script>"}`, i, name, time.Now().UnixNano())
			return &httpframe.Response{Status: status, Header: hd, Body: []byte(body)}
		}
		status, name := 200, "n"
		if i%97 == 0 {
			status = 500
			want["status"]++
		}
		if i%50 == 0 {
			want["headers"]++
		}
		if i%20 == 0 {
			name = "changed"
			want["body"]++
		}
		if i%97 == 0 || i%50 == 0 || i%20 == 0 {
			want["differing"]++
		}
		on, tg := mk(200, false, "n"), mk(status, i%50 == 0, name)
		d := h.Diff(on, tg)
		ep := fmt.Sprintf("GET /users/%d", i)
		onMs := float64(10 + i%10)
		tgMs := onMs
		if i%4 == 0 {
			ep = fmt.Sprintf("GET /slow/%d?q=1", i)
			tgMs += 20
		}
		r := store.Result{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Session: "s1", Request: i,
			Protocol: "http", Endpoint: ep, OnlineMs: onMs, TargetMs: tgMs, TargetError: status >= 500, Diff: d}
		if !d.Same() {
			r.Example = &store.Payloads{Online: on.Body, Target: tg.Body}
		}
		if !w.Put(r) {
			// The queue holds 4096: nothing may be dropped for n <= 4096.
			t.Fatalf("result %d dropped", i)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, want
}

func TestSummaryOfSyntheticStore(t *testing.T) {
	const n = 2000
	dir, want := synthetic(t, n)
	s, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Exchanges != n || s.Stored != n || s.Differing != want["differing"] {
		t.Fatalf("exchanges %d stored %d differing %d, want %d %d %d", s.Exchanges, s.Stored, s.Differing, n, n, want["differing"])
	}
	for _, k := range []string{"status", "headers", "body"} {
		if s.ByKind[k] != want[k] {
			t.Errorf("by_kind[%s] = %d, want %d", k, s.ByKind[k], want[k])
		}
	}
	if s.Errors.Target != want["status"] || s.Errors.Online != 0 {
		t.Errorf("errors %+v", s.Errors)
	}
	// Online latencies are 10..19 ms evenly: p50 14, p90 18, p99 19.
	if (s.LatencyMs.Online != Percentiles{14, 18, 19}) {
		t.Errorf("online latency %+v", s.LatencyMs.Online)
	}
	eps := map[string]Endpoint{}
	for _, e := range s.Endpoints {
		eps[e.Key] = e
	}
	slow, users := eps["GET /slow/{id}"], eps["GET /users/{id}"]
	if len(eps) != 2 || slow.Exchanges != n/4 || users.Exchanges != n-n/4 {
		t.Fatalf("endpoints %+v", s.Endpoints)
	}
	if slow.SlowdownMs() != 20 || users.SlowdownMs() != 0 {
		t.Errorf("slowdown slow %v users %v, want 20 and 0", slow.SlowdownMs(), users.SlowdownMs())
	}
	if slow.Differing+users.Differing != want["differing"] {
		t.Errorf("endpoint differing %d + %d != %d", slow.Differing, users.Differing, want["differing"])
	}
	var total int64
	for _, b := range s.Timeline {
		total += b.Exchanges
	}
	if total != n || s.BucketSec != 5 || len(s.Timeline) != 40 {
		t.Errorf("timeline: %d exchanges in %d buckets of %vs", total, len(s.Timeline), s.BucketSec)
	}
	if len(s.Fields) == 0 || s.Fields[0].Field != "body $.name" || s.Fields[0].Count != want["body"] {
		t.Errorf("fields %+v", s.Fields)
	}
	if len(s.Examples) != 6 { // three per endpoint
		t.Errorf("%d examples", len(s.Examples))
	}

	var buf bytes.Buffer
	if err := WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"exchanges", "differing", "by_kind", "latency_ms", "endpoints"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON summary lacks %q", k)
		}
	}
	lat := back["latency_ms"].(map[string]any)["target"].(map[string]any)
	ep0 := back["endpoints"].([]any)[0].(map[string]any)
	for _, k := range []string{"key", "exchanges", "differing", "online_p50_ms", "target_p50_ms"} {
		if _, ok := ep0[k]; !ok {
			t.Errorf("endpoint lacks %q", k)
		}
	}
	if _, ok := lat["p99"]; !ok {
		t.Errorf("latency lacks p99: %v", lat)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	dir, _ := synthetic(t, 300)
	s, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, s, HTMLOptions{Generated: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Count(page, "<svg") != 2 || strings.Count(page, "<polyline") != 5 {
		t.Fatalf("want 2 charts with 5 lines, page has %d svg and %d polylines", strings.Count(page, "<svg"), strings.Count(page, "<polyline"))
	}
	for _, must := range []string{"Latency CDF", "Diff rate and error rate", "Endpoints that differ most", "Endpoints that slowed most",
		"GET /slow/{id}", "<mark>", "&lt;script&gt;"} {
		if !strings.Contains(page, must) {
			t.Errorf("page lacks %q", must)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Error("page holds a script element")
	}
	// URLs may appear only as escaped text inside the payload examples.
	outside := regexp.MustCompile(`(?s)<pre class="payload"[^>]*>.*?</pre>`).ReplaceAllString(page, "")
	if !strings.Contains(page, "http://example.com") {
		t.Fatal("the payload URL should be shown in the examples")
	}
	for _, bad := range []string{"http://", "https://", "src=", "href=", "@import", "url("} {
		if strings.Contains(outside, bad) {
			t.Errorf("page refers outside itself: %q", bad)
		}
	}
}

func TestHighlight(t *testing.T) {
	a, b := highlight([]byte("abc<d>xyz"), []byte("abcQQxyz"))
	if a != "abc<mark>&lt;d&gt;</mark>xyz" || b != "abc<mark>QQ</mark>xyz" {
		t.Fatalf("%q %q", a, b)
	}
	a, _ = highlight([]byte("same\r\n\x00"), []byte("same\r\n\x00"))
	if a != `same`+"\n"+`\x00` {
		t.Fatalf("%q", a)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(t.TempDir()); err == nil || !strings.Contains(err.Error(), "counts.json") {
		t.Fatalf("err = %v", err)
	}
}

func TestRankAndBuckets(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if rank(v, 0.5) != 5 || rank(v, 0.9) != 9 || rank(v, 0.99) != 10 || rank(nil, 0.5) != 0 {
		t.Fatal("nearest rank")
	}
	if bucketWidth(30*time.Second) != time.Second || bucketWidth(2*time.Hour) != 5*time.Minute {
		t.Fatal("bucket width")
	}
}
