// Package counter names the counters and gauges the components keep, so
// that one exporter can read them all.
//
// Data flow: a component keeps plain atomic.Uint64 fields in its Stats
// struct and updates them on its hot path (no names, no maps, no
// allocation). Its Counters method lists those fields once as Metric
// values: a pointer to the field plus the metric's name, help text, kind
// and constant labels. The metrics package takes that list at
// registration and only loads the pointed-to values at scrape time; tests
// and logs print the same list. Sum merges the lists of counters kept
// once per queue into live sums; Refreshed pulls a value (kernel socket
// statistics) into its atomic before each read.
//
// Names follow the Prometheus conventions without the replaygw_ namespace:
// counters end in _total, units are in the name (_bytes_total, _seconds),
// and reasons or kinds of one quantity are a label on one name rather than
// one name each.
package counter

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// Kind says how a value behaves.
type Kind uint8

const (
	// Counter only goes up (until the process restarts).
	Counter Kind = iota
	// Gauge goes up and down: a number held now.
	Gauge
)

func (k Kind) String() string {
	if k == Gauge {
		return "gauge"
	}
	return "counter"
}

// Label is one constant label of a metric, e.g. reason="queue_full".
type Label struct{ Name, Value string }

// Metric is one named value: where it lives and what it is called. Metrics
// of one Name differ only by their label values and share the label names.
type Metric struct {
	Name   string // e.g. "engine_packets_dropped_total"
	Help   string
	Kind   Kind
	Labels []Label
	values []*atomic.Uint64 // summed: one per queue or socket
	read   func() uint64    // instead of values, for values pulled on demand
}

// Of describes the counter v.
func Of(v *atomic.Uint64, name, help string) Metric {
	return Metric{Name: name, Help: help, Kind: Counter, values: []*atomic.Uint64{v}}
}

// GaugeOf describes the gauge v.
func GaugeOf(v *atomic.Uint64, name, help string) Metric {
	return Metric{Name: name, Help: help, Kind: Gauge, values: []*atomic.Uint64{v}}
}

// Refreshed returns m calling refresh before each read, for values a
// component pulls on demand into its atomics (kernel socket statistics).
// refresh must be safe for concurrent use.
func (m Metric) Refreshed(refresh func()) Metric {
	values := m.values
	m.read = func() uint64 {
		refresh()
		var v uint64
		for _, p := range values {
			v += p.Load()
		}
		return v
	}
	return m
}

// With returns m with the label name=value added (m's own labels are not
// changed).
func (m Metric) With(name, value string) Metric {
	m.Labels = append(m.Labels[:len(m.Labels):len(m.Labels)], Label{name, value})
	return m
}

// At returns m reading v: one family described once, e.g.
// drops := counter.Of(nil, "x_dropped_total", "..."), then
// drops.At(&s.Full).With("reason", "full").
func (m Metric) At(v *atomic.Uint64) Metric {
	m.values, m.read = []*atomic.Uint64{v}, nil
	return m
}

// Value loads the current value (the sum, for a Sum); 0 for a Metric
// without one.
func (m Metric) Value() uint64 {
	if m.read != nil {
		return m.read()
	}
	var v uint64
	for _, p := range m.values {
		if p != nil {
			v += p.Load()
		}
	}
	return v
}

// Sum merges lists of the same metrics kept apart (one Stats per queue)
// into one list whose values are the sums, read live. Metrics are matched
// by key; the order is the first list's, then keys only later lists have.
// Refreshed metrics are not summed: the first of a key wins.
func Sum(lists ...[]Metric) []Metric {
	var out []Metric
	at := make(map[string]int)
	for _, l := range lists {
		for _, m := range l {
			k := m.Key()
			i, ok := at[k]
			if !ok {
				at[k] = len(out)
				m.values = append([]*atomic.Uint64(nil), m.values...)
				out = append(out, m)
				continue
			}
			if out[i].read == nil && m.read == nil {
				out[i].values = append(out[i].values, m.values...)
			}
		}
	}
	return out
}

// Label returns the value of the label name, or "".
func (m Metric) Label(name string) string {
	for _, l := range m.Labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Key is the name with its labels as Prometheus writes them:
// engine_packets_dropped_total{reason="queue_full"}.
func (m Metric) Key() string {
	if len(m.Labels) == 0 {
		return m.Name
	}
	var b strings.Builder
	b.WriteString(m.Name)
	b.WriteByte('{')
	for i, l := range m.Labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(l.Value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// String is key=value, for logs and test failures.
func (m Metric) String() string {
	var b strings.Builder
	b.WriteString(m.Key())
	b.WriteByte('=')
	b.WriteString(strconv.FormatUint(m.Value(), 10))
	return b.String()
}

// Find returns the metric with key k (as Key writes it) from ms.
func Find(ms []Metric, k string) (Metric, bool) {
	for _, m := range ms {
		if m.Key() == k {
			return m, true
		}
	}
	return Metric{}, false
}
