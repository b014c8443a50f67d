package metrics

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// localCounter mimics a component's own Counter type.
type localCounter struct {
	Name, Help string
	Value      uint64
}

type fakeStats struct {
	read, dropped atomic.Uint64
	fates         [3]atomic.Uint64
}

func (s *fakeStats) Counters() []localCounter {
	return []localCounter{
		{"packets_read", "packets read", s.read.Load()},
		{"queue_dropped", "records dropped: queue full", s.dropped.Load()},
		{"sessions_replayed", "fate", s.fates[0].Load()},
		{"sessions_target_reset", "fate", s.fates[1].Load()},
		{"sessions_sampled_out", "fate", s.fates[2].Load()},
	}
}

func newTestExporter() (*Exporter, *fakeStats, *Histogram) {
	s := &fakeStats{}
	s.read.Store(12345)
	s.dropped.Store(7)
	s.fates[0].Store(90)
	s.fates[1].Store(10)
	s.fates[2].Store(50)
	e := New("copy")
	src := FromCounters(s.Counters)
	e.AddCounters("tun", WithoutPrefix("sessions_", src))
	e.AddFates("engine", WithPrefix("sessions_", src))
	e.AddGauge("engine", "sessions_active", "open sessions", func() float64 { return 42 })
	h := e.Histogram("target_response_seconds", "target response time", nil)
	for _, v := range []float64{0.001, 0.002, 0.003, 0.2} {
		h.Observe(v)
	}
	return e, s, h
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

func TestScrapeCounters(t *testing.T) {
	e, _, _ := newTestExporter()
	fams := scrape(t, e.Handler())
	tests := []struct {
		name  string
		typ   dto.MetricType
		label string // fate label, if any
		want  float64
	}{
		{"replaygw_tun_packets_read", dto.MetricType_COUNTER, "", 12345},
		{"replaygw_tun_queue_dropped", dto.MetricType_COUNTER, "", 7},
		{"replaygw_engine_sessions_active", dto.MetricType_GAUGE, "", 42},
		{"replaygw_engine_sessions_total", dto.MetricType_COUNTER, "replayed", 90},
		{"replaygw_engine_sessions_total", dto.MetricType_COUNTER, "target_reset", 10},
		{"replaygw_engine_sessions_total", dto.MetricType_COUNTER, "sampled_out", 50},
	}
	for _, tt := range tests {
		t.Run(tt.name+tt.label, func(t *testing.T) {
			f, ok := fams[tt.name]
			if !ok {
				t.Fatalf("%s missing from scrape", tt.name)
			}
			if f.GetType() != tt.typ {
				t.Fatalf("type %v, want %v", f.GetType(), tt.typ)
			}
			for _, m := range f.Metric {
				if tt.label != "" && (len(m.Label) != 1 || m.Label[0].GetValue() != tt.label) {
					continue
				}
				var got float64
				if m.Counter != nil {
					got = m.Counter.GetValue()
				} else {
					got = m.Gauge.GetValue()
				}
				if got != tt.want {
					t.Fatalf("value %v, want %v", got, tt.want)
				}
				return
			}
			t.Fatalf("no series with fate=%q", tt.label)
		})
	}
	if _, ok := fams["replaygw_tun_sessions_replayed"]; ok {
		t.Error("fate counters leaked into the plain counters despite WithoutPrefix")
	}
	hf := fams["replaygw_target_response_seconds"]
	if hf == nil || hf.Metric[0].Histogram.GetSampleCount() != 4 {
		t.Fatalf("histogram missing or wrong count: %v", hf)
	}
	for _, n := range []string{"go_goroutines", "process_cpu_seconds_total", "replaygw_info"} {
		if _, ok := fams[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
}

func TestDuplicateNamesDoNotBreakScrape(t *testing.T) {
	e := New("gateway")
	src := func(emit func(string, string, uint64)) { emit("x", "", 1) }
	e.AddCounters("a", src)
	e.AddCounters("a", src)
	fams := scrape(t, e.Handler())
	if f := fams["replaygw_a_x"]; f == nil || len(f.Metric) != 1 {
		t.Fatalf("want one replaygw_a_x series, got %v", f)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"ok_name": "ok_name", "a-b.c": "a_b_c", "9x": "_x", "": ""} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusRoundTripAndRates(t *testing.T) {
	e, s, _ := newTestExporter()
	e.Sample()
	s.read.Add(1000)
	time.Sleep(100 * time.Millisecond)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	st, err := FetchStatus(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != "copy" {
		t.Errorf("role %q", st.Role)
	}
	if got := st.Counters["tun_packets_read"]; got != 13345 {
		t.Errorf("tun_packets_read = %d, want 13345", got)
	}
	if got := st.Fates["replayed"]; got != 90 {
		t.Errorf("fate replayed = %d, want 90", got)
	}
	if got := st.Gauges["engine_sessions_active"]; got != 42 {
		t.Errorf("gauge = %v", got)
	}
	r := st.Rates["tun_packets_read"]
	// 1000 packets over ~0.1s (bounded above by test slowness).
	if r < 100 || r > 1000/0.09 {
		t.Errorf("rate %v/s over %vs, want ~10000/s", r, st.RateWindow)
	}
	if st.Rates["tun_queue_dropped"] != 0 {
		t.Errorf("unchanged counter has rate %v", st.Rates["tun_queue_dropped"])
	}
	l := st.Latency["target_response_seconds"]
	if l.Count != 4 || l.P50 < 0.001 || l.P50 > 0.0025 || l.P99 < 0.1 || l.P99 > 0.25 {
		t.Errorf("latency summary %+v", l)
	}
	// host:port form.
	if _, err := FetchStatus(strings.TrimPrefix(srv.URL, "http://")); err != nil {
		t.Errorf("host:port form: %v", err)
	}
}

func TestQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4}
	cum := []uint64{10, 20, 20}
	tests := []struct{ q, want float64 }{{0.25, 0.5}, {0.5, 1}, {0.75, 1.5}, {1, 2}}
	for _, tt := range tests {
		if got := quantile(tt.q, bounds, cum, 20); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestRenderStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	prev := &Status{Role: "copy", Started: t0, Time: t0.Add(time.Minute),
		Counters: map[string]uint64{"engine_packets_sent": 1000, "capture_dropped": 5},
		Fates:    map[string]uint64{"replayed": 100, "target_reset": 0, "sampled_out": 10}}
	cur := &Status{Role: "copy", Started: t0, Time: t0.Add(time.Minute + 2*time.Second), Uptime: 62,
		Counters: map[string]uint64{"engine_packets_sent": 5000, "capture_dropped": 9},
		Fates:    map[string]uint64{"replayed": 190, "target_reset": 10, "sampled_out": 10},
		Latency:  map[string]Latency{"target_response_seconds": {Count: 3, P50: 0.0012, P90: 0.004, P99: 0.02}}}
	var b bytes.Buffer
	if err := RenderStatus(&b, prev, cur); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"replaygw copy", "up 1m2s",
		"210 ended", "success 95.0%", // 190 of 200 not sampled out
		"success 90.0%",                 // in the window: 90 of 100
		"engine_packets_sent", "2000.0", // (5000-1000)/2s
		"capture_dropped", "(+2.0/s)",
		"target_reset", "1.2ms", "20ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	// Without prev: server rates.
	cur.Rates, cur.RateWindow = map[string]float64{"engine_packets_sent": 777}, 5
	b.Reset()
	RenderStatus(&b, nil, cur)
	if !strings.Contains(b.String(), "777.0") {
		t.Errorf("server rates not shown:\n%s", b.String())
	}
}

func TestServeListener(t *testing.T) {
	e, _, _ := newTestExporter()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.ServeListener(ctx, ln) }()
	st, err := FetchStatus(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if st.Counters["tun_packets_read"] != 12345 {
		t.Errorf("status via Serve: %v", st.Counters)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve returned %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if err := e.Serve(context.Background(), "256.0.0.1:1"); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
}
