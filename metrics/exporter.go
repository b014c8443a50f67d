// Package metrics exports replaygw's counters to Prometheus and serves a
// JSON status endpoint, for both roles.
//
// Data flow: components keep their own atomic counters and list them as
// counter.Metric values (name, help, kind, labels, a pointer to the
// atomic). A role hands those lists to Exporter.Add once; Add checks the
// names against the conventions and builds one Prometheus descriptor per
// name. A scrape (/metrics) or a status read (/status) only loads the
// atomics, so the hot paths never touch Prometheus types. Every metric is
// replaygw_<name>; docs/metrics.md lists them all.
package metrics

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/replaygw/replaygw/counter"
)

// Namespace is the first part of every metric name.
const Namespace = "replaygw"

// Exporter collects the metrics of one process (one role) and serves them.
type Exporter struct {
	role    string
	started time.Time
	reg     *prometheus.Registry
	log     *slog.Logger

	mu      sync.Mutex
	set     metricSet
	version string
	hists   []*Histogram
	samples sampleRing // counter snapshots for rates, filled by Serve
}

// New returns an exporter for role ("gateway", "copier", "appliance", ...)
// with the Go runtime and process collectors registered.
func New(role string) *Exporter {
	e := &Exporter{
		role:    role,
		started: time.Now(),
		reg:     prometheus.NewRegistry(),
		log:     slog.New(slog.DiscardHandler),
		version: moduleVersion(),
	}
	e.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&setCollector{e: e},
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

// SetLogger sets where registration and scrape errors are logged (default:
// discarded).
func (e *Exporter) SetLogger(l *slog.Logger) {
	if l != nil {
		e.log = l
	}
}

// SetVersion sets the version label of replaygw_build_info. "" and "dev"
// keep the module version from the build information.
func (e *Exporter) SetVersion(v string) {
	if v == "" || v == "dev" {
		return
	}
	e.mu.Lock()
	e.version = v
	e.mu.Unlock()
}

// moduleVersion is the main module's version from the build information,
// or "dev".
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

var buildInfoDesc = prometheus.NewDesc(Namespace+"_build_info",
	"Always 1; the labels name the replaygw version and the Go version it was built with.",
	[]string{"version", "goversion"}, nil)

// Role returns the role given to New.
func (e *Exporter) Role() string { return e.role }

// Registry returns the Prometheus registry, for registering more
// collectors.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Add registers ms, each exported as replaygw_<Name>{Labels}. A metric that
// breaks the naming rules (see counter.Check), or whose key is already
// registered, is logged and left out: a bad name must not fail every
// scrape.
func (e *Exporter) Add(ms ...counter.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range ms {
		if err := e.set.add(m); err != nil {
			e.log.Warn("metrics: metric left out", "err", err)
		}
	}
}

// AddGauge adds the gauge replaygw_<name> read from f at scrape time, for
// values a component computes rather than counts (sessions open).
func (e *Exporter) AddGauge(name, help string, f func() float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.set.addFunc(name, help, f); err != nil {
		e.log.Warn("metrics: metric left out", "err", err)
	}
}

// Histogram registers replaygw_<name> (a histogram of seconds; name ends in
// _seconds) and returns it. Nil buckets mean LatencyBuckets.
func (e *Exporter) Histogram(name, help string, buckets []float64) *Histogram {
	if buckets == nil {
		buckets = LatencyBuckets
	}
	h := &Histogram{name: name, h: prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      name,
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

// current returns the registered metrics and histograms, for use outside
// mu (the slices are only ever appended to).
func (e *Exporter) current() ([]entry, []*Histogram, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.set.entries[:len(e.set.entries):len(e.set.entries)], e.hists[:len(e.hists):len(e.hists)], e.version
}

var goVersion = runtime.Version()
