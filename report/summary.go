// Package report turns a results store into a summary (JSON) and one
// self-contained HTML page.
//
// Data flow:
//
//	store dir -> store.ReadCounts (every exchange: totals, kinds, drops)
//	          -> store.Scan (stored results: latency, endpoints, timeline)
//	          -> store.ScanExamples (sampled payloads)
//	          -> Build -> *Summary -> WriteJSON (machine summary)
//	                               -> WriteHTML (CDFs, timeline, endpoints, examples; inline SVG)
//
// Counts come from the store's counters and cover every exchange, even
// those dropped or past the store's byte cap; latency percentiles, the
// endpoint table and the timeline come from the stored results (Stored
// says how many; it is less than Exchanges when results were dropped or
// capped).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/store"
)

// Percentiles of a latency distribution, in milliseconds (nearest rank).
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// Latency of both sides.
type Latency struct {
	Online Percentiles `json:"online"`
	Target Percentiles `json:"target"`
}

// Endpoint is one endpoint key (compare.EndpointKey).
type Endpoint struct {
	Key         string  `json:"key"`
	Exchanges   int64   `json:"exchanges"`
	Differing   int64   `json:"differing"`
	OnlineP50Ms float64 `json:"online_p50_ms"`
	TargetP50Ms float64 `json:"target_p50_ms"`
	TargetErrs  int64   `json:"target_errors"`
}

// SlowdownMs is how much slower the target's median is.
func (e Endpoint) SlowdownMs() float64 { return e.TargetP50Ms - e.OnlineP50Ms }

// Bucket is one interval of the timeline.
type Bucket struct {
	Start        time.Time `json:"start"`
	Exchanges    int64     `json:"exchanges"`
	Differing    int64     `json:"differing"`
	OnlineErrors int64     `json:"online_errors"`
	TargetErrors int64     `json:"target_errors"`
}

// FieldCount is how many stored exchanges differ in one field.
type FieldCount struct {
	Field string `json:"field"`
	Count int64  `json:"count"`
}

// Summary is the report of one store.
type Summary struct {
	Exchanges int64            `json:"exchanges"`
	Differing int64            `json:"differing"`
	ByKind    map[string]int64 `json:"by_kind"`
	WithNoise int64            `json:"with_noise"`
	Dropped   int64            `json:"dropped"`
	Capped    int64            `json:"capped"`
	Stored    int64            `json:"stored"`
	LatencyMs Latency          `json:"latency_ms"`
	Errors    struct {
		Online int64 `json:"online"`
		Target int64 `json:"target"`
	} `json:"errors"`
	Endpoints []Endpoint      `json:"endpoints"`
	Fields    []FieldCount    `json:"fields"`
	Noise     []FieldCount    `json:"noise_fields"`
	BucketSec float64         `json:"bucket_seconds"`
	Timeline  []Bucket        `json:"timeline"`
	Examples  []store.Example `json:"-"`

	online, target []float64 // sorted latencies, for the CDF
}

// Build reads a store directory.
func Build(dir string) (*Summary, error) {
	c, err := store.ReadCounts(dir)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	s := &Summary{Exchanges: c.Exchanges, Differing: c.Differing, ByKind: map[string]int64{},
		WithNoise: c.WithNoise, Dropped: c.Dropped, Capped: c.Capped}
	for _, k := range []string{"status", "headers", "body"} {
		s.ByKind[k] = c.ByKind[k]
	}
	type epAcc struct {
		e              Endpoint
		online, target []float64
	}
	eps := map[string]*epAcc{}
	fields, noise := map[string]int64{}, map[string]int64{}
	type point struct {
		t                  time.Time
		diff, onErr, tgErr bool
	}
	var points []point
	err = store.Scan(dir, func(r store.Result) error {
		s.Stored++
		s.online = append(s.online, r.OnlineMs)
		s.target = append(s.target, r.TargetMs)
		key := compare.EndpointKey(r.Endpoint)
		a := eps[key]
		if a == nil {
			a = &epAcc{e: Endpoint{Key: key}}
			eps[key] = a
		}
		a.e.Exchanges++
		a.online = append(a.online, r.OnlineMs)
		a.target = append(a.target, r.TargetMs)
		if !r.Same() {
			a.e.Differing++
		}
		if r.OnlineError {
			s.Errors.Online++
		}
		if r.TargetError {
			s.Errors.Target++
			a.e.TargetErrs++
		}
		for _, f := range r.Fields {
			fields[f.String()]++
		}
		for _, f := range r.Noise {
			noise[f.String()]++
		}
		points = append(points, point{r.Time, !r.Same(), r.OnlineError, r.TargetError})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	sort.Float64s(s.online)
	sort.Float64s(s.target)
	s.LatencyMs = Latency{percentiles(s.online), percentiles(s.target)}
	for _, a := range eps {
		sort.Float64s(a.online)
		sort.Float64s(a.target)
		a.e.OnlineP50Ms, a.e.TargetP50Ms = rank(a.online, 0.5), rank(a.target, 0.5)
		s.Endpoints = append(s.Endpoints, a.e)
	}
	sort.Slice(s.Endpoints, func(i, j int) bool {
		a, b := s.Endpoints[i], s.Endpoints[j]
		if a.Differing != b.Differing {
			return a.Differing > b.Differing
		}
		return a.Key < b.Key
	})
	s.Fields, s.Noise = counted(fields), counted(noise)

	if len(points) > 0 {
		sort.SliceStable(points, func(i, j int) bool { return points[i].t.Before(points[j].t) })
		first, last := points[0].t, points[len(points)-1].t
		width := bucketWidth(last.Sub(first))
		s.BucketSec = width.Seconds()
		for _, p := range points {
			i := int(p.t.Sub(first) / width)
			for len(s.Timeline) <= i {
				s.Timeline = append(s.Timeline, Bucket{Start: first.Add(time.Duration(len(s.Timeline)) * width)})
			}
			b := &s.Timeline[i]
			b.Exchanges++
			b.Differing += b2i(p.diff)
			b.OnlineErrors += b2i(p.onErr)
			b.TargetErrors += b2i(p.tgErr)
		}
	}
	if err := store.ScanExamples(dir, func(e store.Example) error {
		s.Examples = append(s.Examples, e)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return s, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func counted(m map[string]int64) []FieldCount {
	out := make([]FieldCount, 0, len(m))
	for f, n := range m {
		out = append(out, FieldCount{f, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Field < out[j].Field
	})
	return out
}

func percentiles(sorted []float64) Percentiles {
	return Percentiles{rank(sorted, 0.5), rank(sorted, 0.9), rank(sorted, 0.99)}
}

// rank is the nearest-rank percentile of sorted values (0 for none).
func rank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// bucketWidth picks a round interval giving at most 60 buckets.
func bucketWidth(span time.Duration) time.Duration {
	for _, w := range []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
		time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour} {
		if span/w < 60 {
			return w
		}
	}
	return span/59 + time.Second
}

// WriteJSON writes the summary as indented JSON.
func WriteJSON(w io.Writer, s *Summary) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	if err := e.Encode(s); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
