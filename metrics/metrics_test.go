package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/replaygw/replaygw/counter"
)

type fakeStats struct {
	read, dropped, gone, open atomic.Uint64
	fates                     [3]atomic.Uint64
}

func (s *fakeStats) Counters() []counter.Metric {
	drops := counter.Of(nil, "tun_records_dropped_total", "records dropped, by reason")
	ended := counter.Of(nil, "engine_sessions_ended_total", "sessions ended, by fate")
	return []counter.Metric{
		counter.Of(&s.read, "tun_packets_read_total", "packets read"),
		drops.At(&s.dropped).With("reason", "queue_full"),
		drops.At(&s.gone).With("reason", "copier_gone"),
		counter.GaugeOf(&s.open, "tun_copiers_connected", "copiers now"),
		ended.At(&s.fates[0]).With("fate", "replayed"),
		ended.At(&s.fates[1]).With("fate", "target_reset"),
		ended.At(&s.fates[2]).With("fate", "sampled_out"),
	}
}

func newTestExporter() (*Exporter, *fakeStats, *Histogram) {
	s := &fakeStats{}
	s.read.Store(12345)
	s.dropped.Store(7)
	s.open.Store(3)
	s.fates[0].Store(90)
	s.fates[1].Store(10)
	s.fates[2].Store(50)
	e := New("copier")
	e.Add(s.Counters()...)
	e.AddGauge("engine_sessions_open", "open sessions", func() float64 { return 42 })
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
	e, s, _ := newTestExporter()
	e.SetVersion("v1.2.3")
	s.gone.Store(2) // after Add: scrapes read the live value
	fams := scrape(t, e.Handler())
	tests := []struct {
		name   string
		typ    dto.MetricType
		labels string // name=value,... of the series; "" for none
		want   float64
	}{
		{"replaygw_tun_packets_read_total", dto.MetricType_COUNTER, "", 12345},
		{"replaygw_tun_records_dropped_total", dto.MetricType_COUNTER, "reason=queue_full", 7},
		{"replaygw_tun_records_dropped_total", dto.MetricType_COUNTER, "reason=copier_gone", 2},
		{"replaygw_tun_copiers_connected", dto.MetricType_GAUGE, "", 3},
		{"replaygw_engine_sessions_open", dto.MetricType_GAUGE, "", 42},
		{"replaygw_engine_sessions_ended_total", dto.MetricType_COUNTER, "fate=replayed", 90},
		{"replaygw_engine_sessions_ended_total", dto.MetricType_COUNTER, "fate=target_reset", 10},
		{"replaygw_engine_sessions_ended_total", dto.MetricType_COUNTER, "fate=sampled_out", 50},
		{"replaygw_build_info", dto.MetricType_GAUGE, "goversion=" + runtime.Version() + ",version=v1.2.3", 1},
		{"replaygw_info", dto.MetricType_GAUGE, "role=copier", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name+"{"+tt.labels+"}", func(t *testing.T) {
			f, ok := fams[tt.name]
			if !ok {
				t.Fatalf("%s missing from scrape", tt.name)
			}
			if f.GetType() != tt.typ {
				t.Fatalf("type %v, want %v", f.GetType(), tt.typ)
			}
			var seen []string
			for _, m := range f.Metric {
				var ls []string
				for _, l := range m.Label {
					ls = append(ls, l.GetName()+"="+l.GetValue())
				}
				if got := strings.Join(ls, ","); got != tt.labels {
					seen = append(seen, got)
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
			t.Fatalf("no series {%s}; have %q", tt.labels, seen)
		})
	}
	hf := fams["replaygw_target_response_seconds"]
	if hf == nil || hf.Metric[0].Histogram.GetSampleCount() != 4 {
		t.Fatalf("histogram missing or wrong count: %v", hf)
	}
	for _, n := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
}

func TestAddLeavesOutBadMetrics(t *testing.T) {
	var v atomic.Uint64
	v.Store(1)
	tests := []struct {
		name  string
		add   []counter.Metric
		want  map[string]int // family -> series count in the scrape
		nowhy string         // a family that must be absent
	}{
		{"duplicate key", []counter.Metric{counter.Of(&v, "a_x_total", ""), counter.Of(&v, "a_x_total", "")}, map[string]int{"replaygw_a_x_total": 1}, ""},
		{"counter without _total", []counter.Metric{counter.Of(&v, "a_packets", ""), counter.Of(&v, "a_ok_total", "")}, map[string]int{"replaygw_a_ok_total": 1}, "replaygw_a_packets"},
		{"other label names", []counter.Metric{counter.Of(&v, "a_d_total", "").With("reason", "x"), counter.Of(&v, "a_d_total", "").With("kind", "y")}, map[string]int{"replaygw_a_d_total": 1}, ""},
		{"gauge and counter of one name", []counter.Metric{counter.GaugeOf(&v, "a_open", ""), counter.Of(&v, "a_open", "")}, map[string]int{"replaygw_a_open": 1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			e := New("gateway")
			e.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
			e.Add(tt.add...)
			fams := scrape(t, e.Handler())
			for name, n := range tt.want {
				if f := fams[name]; f == nil || len(f.Metric) != n {
					t.Errorf("want %d series of %s, got %v", n, name, f)
				}
			}
			if tt.nowhy != "" && fams[tt.nowhy] != nil {
				t.Errorf("%s exported", tt.nowhy)
			}
			if !strings.Contains(logged.String(), "metric left out") {
				t.Errorf("nothing logged: %q", logged.String())
			}
		})
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
	if st.Role != "copier" {
		t.Errorf("role %q", st.Role)
	}
	if got := st.Counters["tun_packets_read_total"]; got != 13345 {
		t.Errorf("tun_packets_read_total = %d, want 13345", got)
	}
	if got := st.Counters[`tun_records_dropped_total{reason="queue_full"}`]; got != 7 {
		t.Errorf("labelled counter = %d, want 7 (counters %v)", got, st.Counters)
	}
	if got := st.Fates["replayed"]; got != 90 {
		t.Errorf("fate replayed = %d, want 90", got)
	}
	if got := st.Fates["sampled_out"]; got != 50 {
		t.Errorf("fate sampled_out = %d, want 50", got)
	}
	if got, got2 := st.Gauges["engine_sessions_open"], st.Gauges["tun_copiers_connected"]; got != 42 || got2 != 3 {
		t.Errorf("gauges = %v", st.Gauges)
	}
	if _, ok := st.Counters["tun_copiers_connected"]; ok {
		t.Errorf("a gauge is listed among the counters")
	}
	r := st.Rates["tun_packets_read_total"]
	// 1000 packets over ~0.1s (bounded above by test slowness).
	if r < 100 || r > 1000/0.09 {
		t.Errorf("rate %v/s over %vs, want ~10000/s", r, st.RateWindow)
	}
	if k := `tun_records_dropped_total{reason="queue_full"}`; st.Rates[k] != 0 {
		t.Errorf("unchanged counter has rate %v", st.Rates[k])
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
		Counters: map[string]uint64{"engine_packets_sent_total": 1000, "capture_kernel_drops_total": 5},
		Fates:    map[string]uint64{"replayed": 100, "target_reset": 0, "sampled_out": 10}}
	cur := &Status{Role: "copy", Started: t0, Time: t0.Add(time.Minute + 2*time.Second), Uptime: 62,
		Counters: map[string]uint64{"engine_packets_sent_total": 5000, "capture_kernel_drops_total": 9},
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
		"success 90.0%",                       // in the window: 90 of 100
		"engine_packets_sent_total", "2000.0", // (5000-1000)/2s
		"capture_kernel_drops_total", "(+2.0/s)",
		"target_reset", "1.2ms", "20ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	// Without prev: server rates.
	cur.Rates, cur.RateWindow = map[string]float64{"engine_packets_sent_total": 777}, 5
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
	if st.Counters["tun_packets_read_total"] != 12345 {
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

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
