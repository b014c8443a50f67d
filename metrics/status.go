package metrics

import (
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/replaygw/replaygw/counter"
)

// Status is the JSON document served at /status: a one-shot view of the
// process for `replaygw status` and scripts.
type Status struct {
	Role       string             `json:"role"`
	Time       time.Time          `json:"time"`
	Started    time.Time          `json:"started"`
	Uptime     float64            `json:"uptime_seconds"`
	Counters   map[string]uint64  `json:"counters"`            // name{labels} without replaygw_ -> value
	Rates      map[string]float64 `json:"rates,omitempty"`     // per second over RateWindow
	RateWindow float64            `json:"rate_window_seconds"` // 0: no rates yet
	Gauges     map[string]float64 `json:"gauges,omitempty"`    // name{labels} without replaygw_ -> value
	Fates      map[string]uint64  `json:"fates"`               // fate -> sessions, summed over every counter with a fate label
	Latency    map[string]Latency `json:"latency,omitempty"`   // histogram name -> summary
}

// Latency summarises a histogram; quantiles are interpolated within
// buckets, in seconds.
type Latency struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum_seconds"`
	P50   float64 `json:"p50_seconds"`
	P90   float64 `json:"p90_seconds"`
	P99   float64 `json:"p99_seconds"`
}

// Status returns the current status, with rates over the samples Serve has
// taken in the last RateWindow.
func (e *Exporter) Status() *Status {
	now := time.Now()
	st := e.snapshot(now)
	e.mu.Lock()
	old, ok := e.samples.oldest(now.Add(-RateWindow - time.Second/2))
	e.mu.Unlock()
	if ok {
		dt := now.Sub(old.t).Seconds()
		if dt > 0 {
			st.RateWindow = dt
			st.Rates = make(map[string]float64, len(st.Counters))
			for k, v := range st.Counters {
				if p, ok := old.counters[k]; ok && v >= p {
					st.Rates[k] = float64(v-p) / dt
				}
			}
		}
	}
	return st
}

// RateWindow is how far back /status rates look.
const RateWindow = 5 * time.Second

// snapshot reads every metric once.
func (e *Exporter) snapshot(now time.Time) *Status {
	entries, hists, _ := e.current()
	st := &Status{
		Role:     e.role,
		Time:     now,
		Started:  e.started,
		Uptime:   now.Sub(e.started).Seconds(),
		Counters: make(map[string]uint64),
		Fates:    make(map[string]uint64),
	}
	for i := range entries {
		en := &entries[i]
		if en.m.Kind == counter.Gauge {
			if st.Gauges == nil {
				st.Gauges = make(map[string]float64)
			}
			st.Gauges[en.key] = en.value()
			continue
		}
		v := en.m.Value()
		st.Counters[en.key] = v
		if f := en.m.Label("fate"); f != "" {
			st.Fates[f] += v
		}
	}
	if len(hists) > 0 {
		st.Latency = make(map[string]Latency, len(hists))
		for _, h := range hists {
			st.Latency[h.name] = h.summary()
		}
	}
	return st
}

// summary reads the histogram's buckets.
func (h *Histogram) summary() Latency {
	var m dto.Metric
	if err := h.h.Write(&m); err != nil || m.Histogram == nil {
		return Latency{}
	}
	hm := m.Histogram
	l := Latency{Count: hm.GetSampleCount(), Sum: hm.GetSampleSum()}
	bounds := make([]float64, 0, len(hm.Bucket))
	cum := make([]uint64, 0, len(hm.Bucket))
	for _, b := range hm.Bucket {
		bounds = append(bounds, b.GetUpperBound())
		cum = append(cum, b.GetCumulativeCount())
	}
	l.P50 = quantile(0.50, bounds, cum, l.Count)
	l.P90 = quantile(0.90, bounds, cum, l.Count)
	l.P99 = quantile(0.99, bounds, cum, l.Count)
	return l
}

// quantile interpolates linearly inside the bucket that holds rank q*total,
// like PromQL's histogram_quantile. Values above the last bound report the
// last bound.
func quantile(q float64, bounds []float64, cum []uint64, total uint64) float64 {
	if total == 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * float64(total)
	lower, prev := 0.0, uint64(0)
	for i, ub := range bounds {
		if float64(cum[i]) >= rank {
			n := cum[i] - prev
			if n == 0 {
				return ub
			}
			return lower + (ub-lower)*(rank-float64(prev))/float64(n)
		}
		lower, prev = ub, cum[i]
	}
	if math.IsInf(bounds[len(bounds)-1], 1) && len(bounds) > 1 {
		return bounds[len(bounds)-2]
	}
	return bounds[len(bounds)-1]
}

// sample is one timed counter snapshot.
type sample struct {
	t        time.Time
	counters map[string]uint64
}

// sampleRing keeps the last few snapshots.
type sampleRing struct {
	s    [8]sample
	next int
	n    int
}

func (r *sampleRing) add(s sample) {
	r.s[r.next] = s
	r.next = (r.next + 1) % len(r.s)
	if r.n < len(r.s) {
		r.n++
	}
}

// oldest returns the oldest sample taken at or after since.
func (r *sampleRing) oldest(since time.Time) (sample, bool) {
	for i := 0; i < r.n; i++ {
		s := r.s[(r.next-r.n+i+len(r.s))%len(r.s)]
		if !s.t.Before(since) {
			return s, true
		}
	}
	return sample{}, false
}

// Sample records a counter snapshot for rate computation. Serve calls it
// every second; call it yourself when serving with your own loop.
func (e *Exporter) Sample() {
	now := time.Now()
	st := e.snapshot(now)
	e.mu.Lock()
	e.samples.add(sample{t: now, counters: st.Counters})
	e.mu.Unlock()
}
