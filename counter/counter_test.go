package counter

import (
	"strings"
	"sync/atomic"
	"testing"
)

func TestMetric(t *testing.T) {
	var v atomic.Uint64
	v.Store(7)
	base := Of(&v, "drops_total", "dropped")
	a := base.With("reason", "full")
	b := base.With("reason", "gone")
	tests := []struct {
		name   string
		m      Metric
		key    string
		str    string
		reason string
		kind   Kind
	}{
		{"plain", base, "drops_total", "drops_total=7", "", Counter},
		{"label", a, `drops_total{reason="full"}`, `drops_total{reason="full"}=7`, "full", Counter},
		{"sibling label not shared", b, `drops_total{reason="gone"}`, `drops_total{reason="gone"}=7`, "gone", Counter},
		{"two labels", a.With("queue", "3"), `drops_total{reason="full",queue="3"}`, `drops_total{reason="full",queue="3"}=7`, "full", Counter},
		{"gauge", GaugeOf(&v, "open", "open now"), "open", "open=7", "", Gauge},
		{"no value", Metric{Name: "x_total"}, "x_total", "x_total=0", "", Counter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Key(); got != tt.key {
				t.Errorf("Key = %q, want %q", got, tt.key)
			}
			if got := tt.m.String(); got != tt.str {
				t.Errorf("String = %q, want %q", got, tt.str)
			}
			if got := tt.m.Label("reason"); got != tt.reason {
				t.Errorf("Label(reason) = %q, want %q", got, tt.reason)
			}
			if tt.m.Kind != tt.kind {
				t.Errorf("Kind = %v, want %v", tt.m.Kind, tt.kind)
			}
		})
	}
	v.Add(1)
	if got := a.Value(); got != 8 {
		t.Errorf("Value after Add = %d, want 8 (Metric must point at the field)", got)
	}
	var w atomic.Uint64
	w.Store(3)
	if c := base.At(&w).With("reason", "other"); c.Value() != 3 || base.Value() != 8 {
		t.Errorf("At: %v, base %v; want 3 and 8", c, base)
	}
	var q1, q2 atomic.Uint64
	q1.Store(10)
	q2.Store(5)
	sum := Sum(
		[]Metric{Of(&q1, "read_total", ""), base.At(&q1).With("reason", "a")},
		[]Metric{Of(&q2, "read_total", ""), base.At(&q2).With("reason", "b")},
	)
	q2.Add(1) // after Sum: read live
	if len(sum) != 3 || sum[0].Value() != 16 || sum[1].Value() != 10 || sum[2].Value() != 6 {
		t.Errorf("Sum = %v, want read_total=16, reason a=10, reason b=6", sum)
	}
	if q1.Load() != 10 {
		t.Errorf("Sum changed a source: %d", q1.Load())
	}
	var k atomic.Uint64
	f := Of(&k, "kernel_total", "").Refreshed(func() { k.Add(2) })
	if f.Value() != 2 || f.Value() != 4 || f.At(&q1).Value() != 10 {
		t.Errorf("Refreshed: %v, At on it: %v", f, f.At(&q1))
	}
	if m, ok := Find([]Metric{base, a, b}, `drops_total{reason="gone"}`); !ok || m.Label("reason") != "gone" {
		t.Errorf("Find = %v, %v", m, ok)
	}
	if _, ok := Find([]Metric{base}, "nope_total"); ok {
		t.Error("Find found a missing key")
	}
}

func TestCheck(t *testing.T) {
	var v atomic.Uint64
	tests := []struct {
		name string
		ms   []Metric
		want []string // substrings of the error; none: no error
	}{
		{"good", []Metric{Of(&v, "a_total", ""), Of(&v, "b_total", "").With("reason", "x"), Of(&v, "b_total", "").With("reason", "y"), GaugeOf(&v, "open", "")}, nil},
		{"counter without _total", []Metric{Of(&v, "packets", "")}, []string{"counter packets: name must end in _total"}},
		{"gauge with _total", []Metric{GaugeOf(&v, "open_total", "")}, []string{"gauge open_total: name must not end in _total"}},
		{"bad name", []Metric{Of(&v, "Bad-name_total", "")}, []string{`"Bad-name_total": name must be lower-case`}},
		{"bad label", []Metric{Of(&v, "a_total", "").With("Reason", "x")}, []string{`label name "Reason"`}},
		{"two label sets", []Metric{Of(&v, "a_total", "").With("reason", "x"), Of(&v, "a_total", "").With("kind", "y")}, []string{"listed as counter{reason} and as counter{kind}"}},
		{"two kinds", []Metric{Of(&v, "a_total", ""), GaugeOf(&v, "a_total", "")}, []string{"listed as counter{} and as gauge{}", "gauge a_total: name must not end"}},
		{"duplicate", []Metric{Of(&v, "a_total", "").With("reason", "x"), Of(&v, "a_total", "").With("reason", "x")}, []string{`a_total{reason="x"} listed twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.ms)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check error %q does not contain %q", err, w)
				}
			}
		})
	}
}
