package counter

import (
	"errors"
	"fmt"
	"strings"
)

// Check reports every way ms breaks the naming rules: a name outside
// [a-z0-9_] or not starting with a letter, a counter without the _total
// suffix or a gauge with it, a name listed with two kinds or two sets of
// label names, and a key listed twice.
func Check(ms []Metric) error {
	type shape struct {
		kind   Kind
		labels string
	}
	shapes := make(map[string]shape, len(ms))
	keys := make(map[string]bool, len(ms))
	var errs []error
	for _, m := range ms {
		if !validName(m.Name) {
			errs = append(errs, fmt.Errorf("counter: metric %q: name must be lower-case snake_case", m.Name))
		}
		for _, l := range m.Labels {
			if !validName(l.Name) {
				errs = append(errs, fmt.Errorf("counter: metric %s: label name %q must be lower-case snake_case", m.Name, l.Name))
			}
		}
		total := strings.HasSuffix(m.Name, "_total")
		switch {
		case m.Kind == Counter && !total:
			errs = append(errs, fmt.Errorf("counter: counter %s: name must end in _total", m.Name))
		case m.Kind == Gauge && total:
			errs = append(errs, fmt.Errorf("counter: gauge %s: name must not end in _total", m.Name))
		}
		sh := shape{m.Kind, labelNames(m)}
		if old, ok := shapes[m.Name]; ok && old != sh {
			errs = append(errs, fmt.Errorf("counter: metric %s: listed as %s{%s} and as %s{%s}", m.Name, old.kind, old.labels, sh.kind, sh.labels))
		}
		shapes[m.Name] = sh
		if k := m.Key(); keys[k] {
			errs = append(errs, fmt.Errorf("counter: metric %s listed twice", k))
		} else {
			keys[k] = true
		}
	}
	return errors.Join(errs...)
}

func labelNames(m Metric) string {
	names := make([]string, len(m.Labels))
	for i, l := range m.Labels {
		names[i] = l.Name
	}
	return strings.Join(names, ",")
}

func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
