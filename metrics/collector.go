package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// sourceCollector turns the exporter's sources into constant metrics at
// scrape time. It describes nothing up front (an unchecked collector),
// because the set of names is only known when the sources run.
type sourceCollector struct {
	e *Exporter

	mu    sync.Mutex
	descs map[string]*prometheus.Desc
}

func (c *sourceCollector) Describe(chan<- *prometheus.Desc) {}

func (c *sourceCollector) desc(full, help string, labels []string) *prometheus.Desc {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.descs[full]; ok {
		return d
	}
	if c.descs == nil {
		c.descs = make(map[string]*prometheus.Desc)
	}
	if help == "" {
		help = full
	}
	d := prometheus.NewDesc(full, help, labels, nil)
	c.descs[full] = d
	return d
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	counters, gauges, fates, _ := c.e.sources()
	seen := make(map[string]bool)
	for _, s := range counters {
		s.src(func(name, help string, v uint64) {
			full := metricName(s.subsystem, name)
			if seen[full] {
				return // a duplicate name would fail the whole scrape
			}
			seen[full] = true
			ch <- prometheus.MustNewConstMetric(c.desc(full, help, nil), prometheus.CounterValue, float64(v))
		})
	}
	for _, s := range gauges {
		s.src(func(name, help string, v float64) {
			full := metricName(s.subsystem, name)
			if seen[full] {
				return
			}
			seen[full] = true
			ch <- prometheus.MustNewConstMetric(c.desc(full, help, nil), prometheus.GaugeValue, v)
		})
	}
	for _, s := range fates {
		full := metricName(s.subsystem, "sessions_total")
		d := c.desc(full, "Replayed sessions that ended, by fate.", []string{"fate"})
		s.src(func(name, _ string, v uint64) {
			key := full + "\x00" + name
			if seen[key] {
				return
			}
			seen[key] = true
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
		})
	}
}

// metricName is replaygw_<subsystem>_<name> (or replaygw_<name> without a
// subsystem).
func metricName(subsystem, name string) string {
	if subsystem == "" {
		return Namespace + "_" + sanitize(name)
	}
	return Namespace + "_" + subsystem + "_" + sanitize(name)
}
