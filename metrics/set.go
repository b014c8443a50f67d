package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/replaygw/replaygw/counter"
)

// metricSet is every registered metric, prepared once: its descriptor, its
// label values in descriptor order and its status key.
type metricSet struct {
	entries []entry
	descs   map[string]*prometheus.Desc // by name
	shapes  map[string]counter.Metric   // the first of each name, to check later ones against
	keys    map[string]bool
}

type entry struct {
	m      counter.Metric
	read   func() float64 // for AddGauge; nil: m.Value
	desc   *prometheus.Desc
	typ    prometheus.ValueType
	labels []string // label values
	key    string   // m.Key(), the /status key
}

func (e *entry) value() float64 {
	if e.read != nil {
		return e.read()
	}
	return float64(e.m.Value())
}

// add checks m against the naming rules and against the metrics of the
// same name already in s, then prepares it.
func (s *metricSet) add(m counter.Metric) error {
	return s.addEntry(entry{m: m})
}

func (s *metricSet) addFunc(name, help string, f func() float64) error {
	return s.addEntry(entry{m: counter.Metric{Name: name, Help: help, Kind: counter.Gauge}, read: f})
}

func (s *metricSet) addEntry(en entry) error {
	m := en.m
	en.key = m.Key()
	if s.keys[en.key] {
		return fmt.Errorf("metrics: %s registered twice", en.key)
	}
	check := []counter.Metric{m}
	if o, ok := s.shapes[m.Name]; ok {
		check = append(check, o)
	}
	if err := counter.Check(check); err != nil {
		return err
	}
	if s.descs == nil {
		s.descs = make(map[string]*prometheus.Desc)
		s.shapes = make(map[string]counter.Metric)
		s.keys = make(map[string]bool)
	}
	if _, ok := s.shapes[m.Name]; !ok {
		s.shapes[m.Name] = m
	}
	en.desc = s.descs[m.Name]
	if en.desc == nil {
		names := make([]string, len(m.Labels))
		for i, l := range m.Labels {
			names[i] = l.Name
		}
		help := m.Help
		if help == "" {
			help = m.Name
		}
		en.desc = prometheus.NewDesc(Namespace+"_"+m.Name, help, names, nil)
		s.descs[m.Name] = en.desc
	}
	en.typ = prometheus.CounterValue
	if m.Kind == counter.Gauge {
		en.typ = prometheus.GaugeValue
	}
	for _, l := range m.Labels {
		en.labels = append(en.labels, l.Value)
	}
	s.keys[en.key] = true
	s.entries = append(s.entries, en)
	return nil
}

// setCollector exports the set at scrape time. It describes nothing up
// front (an unchecked collector): Add may run after registration.
type setCollector struct{ e *Exporter }

func (c *setCollector) Describe(chan<- *prometheus.Desc) {}

func (c *setCollector) Collect(ch chan<- prometheus.Metric) {
	entries, _, version := c.e.current()
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, version, goVersion)
	for i := range entries {
		en := &entries[i]
		ch <- prometheus.MustNewConstMetric(en.desc, en.typ, en.value(), en.labels...)
	}
}
