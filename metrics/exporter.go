// Package metrics exports replaygw's counters to Prometheus and serves a
// JSON status endpoint, for both roles. Components keep their own atomic
// counters; the exporter reads them at scrape time through Sources, so the
// hot paths never touch Prometheus types.
package metrics

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace is the first part of every metric name.
const Namespace = "replaygw"

// Source reports counter values: it calls emit once per counter. It is
// called at scrape time, possibly concurrently, so it must only read
// (atomics). Names are snake_case; the metric is
// replaygw_<subsystem>_<name>.
type Source func(emit func(name, help string, value uint64))

// GaugeSource reports gauge values the same way.
type GaugeSource func(emit func(name, help string, value float64))

// Exporter collects the sources of one process (one role) and serves them.
type Exporter struct {
	role    string
	started time.Time
	reg     *prometheus.Registry
	log     *slog.Logger

	mu       sync.Mutex
	counters []namedSource
	gauges   []namedGauge
	fates    []namedSource
	hists    []*Histogram
	samples  sampleRing // counter snapshots for rates, filled by Serve
}

type namedSource struct {
	subsystem string
	src       Source
}

type namedGauge struct {
	subsystem string
	src       GaugeSource
}

// New returns an exporter for role ("gateway", "copy", "appliance", ...)
// with the Go runtime and process collectors registered.
func New(role string) *Exporter {
	e := &Exporter{
		role:    role,
		started: time.Now(),
		reg:     prometheus.NewRegistry(),
		log:     slog.New(slog.DiscardHandler),
	}
	e.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&sourceCollector{e: e},
	)
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   Namespace,
		Name:        "info",
		Help:        "Always 1; the role label names the replaygw role of this process.",
		ConstLabels: prometheus.Labels{"role": role},
	})
	info.Set(1)
	e.reg.MustRegister(info)
	return e
}

// SetLogger sets where scrape errors are logged (default: discarded).
func (e *Exporter) SetLogger(l *slog.Logger) {
	if l != nil {
		e.log = l
	}
}

// Role returns the role given to New.
func (e *Exporter) Role() string { return e.role }

// Registry returns the Prometheus registry, for registering more
// collectors.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// AddCounters adds a counter source: every value it emits is exported as
// the counter replaygw_<subsystem>_<name>.
func (e *Exporter) AddCounters(subsystem string, src Source) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counters = append(e.counters, namedSource{sanitize(subsystem), src})
}

// AddGauges adds a gauge source: replaygw_<subsystem>_<name> gauges.
func (e *Exporter) AddGauges(subsystem string, src GaugeSource) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gauges = append(e.gauges, namedGauge{sanitize(subsystem), src})
}

// AddGauge adds one gauge read from f at scrape time.
func (e *Exporter) AddGauge(subsystem, name, help string, f func() float64) {
	e.AddGauges(subsystem, func(emit func(string, string, float64)) { emit(name, help, f()) })
}

// AddFates adds a session-fate source: src emits one value per fate, named
// by the bare fate ("replayed", "target_reset", ...). They are exported as
// one counter vector replaygw_<subsystem>_sessions_total{fate="..."} and
// summed by fate in the status. Use WithPrefix to adapt a source whose
// names carry a prefix.
func (e *Exporter) AddFates(subsystem string, src Source) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fates = append(e.fates, namedSource{sanitize(subsystem), src})
}

// Histogram registers replaygw_<name> (a histogram of seconds) and returns
// it. Nil buckets mean LatencyBuckets.
func (e *Exporter) Histogram(name, help string, buckets []float64) *Histogram {
	if buckets == nil {
		buckets = LatencyBuckets
	}
	h := &Histogram{name: sanitize(name), h: prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      sanitize(name),
		Help:      help,
		Buckets:   buckets,
	})}
	e.reg.MustRegister(h.h)
	e.mu.Lock()
	e.hists = append(e.hists, h)
	e.mu.Unlock()
	return h
}

// LatencyBuckets suit response times from 100µs to 30s.
var LatencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// Histogram is a latency histogram in seconds.
type Histogram struct {
	name string
	h    prometheus.Histogram
}

// Observe records one value in seconds.
func (h *Histogram) Observe(seconds float64) { h.h.Observe(seconds) }

// ObserveDuration records d.
func (h *Histogram) ObserveDuration(d time.Duration) { h.h.Observe(d.Seconds()) }

// sources returns copies of the registered sources, for use outside mu.
func (e *Exporter) sources() ([]namedSource, []namedGauge, []namedSource, []*Histogram) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]namedSource(nil), e.counters...), append([]namedGauge(nil), e.gauges...),
		append([]namedSource(nil), e.fates...), append([]*Histogram(nil), e.hists...)
}

// sanitize maps name to the Prometheus name alphabet [a-zA-Z0-9_].
func sanitize(name string) string {
	ok := true
	for i := 0; i < len(name); i++ {
		if !validNameByte(name[i], i) {
			ok = false
			break
		}
	}
	if ok {
		return name
	}
	b := []byte(name)
	for i := range b {
		if !validNameByte(b[i], i) {
			b[i] = '_'
		}
	}
	return string(b)
}

func validNameByte(c byte, i int) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
}
