package metrics

import "strings"

// Counter is the counter convention every component follows: a Counters()
// method returns these.
type Counter struct {
	Name, Help string
	Value      uint64
}

// FromCounters adapts a component's Counters method to a Source. It takes
// any locally defined Counter type with the same fields, so components need
// not import this package.
func FromCounters[C ~struct {
	Name, Help string
	Value      uint64
}](counters func() []C) Source {
	return func(emit func(name, help string, value uint64)) {
		for _, c := range counters() {
			v := struct {
				Name, Help string
				Value      uint64
			}(c)
			emit(v.Name, v.Help, v.Value)
		}
	}
}

// WithPrefix passes on only the values of src whose names start with
// prefix, with the prefix removed; e.g. WithPrefix("engine_sessions_", s)
// turns "engine_sessions_replayed" into the fate "replayed".
func WithPrefix(prefix string, src Source) Source {
	return func(emit func(name, help string, value uint64)) {
		src(func(name, help string, v uint64) {
			if rest, ok := strings.CutPrefix(name, prefix); ok && rest != "" {
				emit(rest, help, v)
			}
		})
	}
}

// WithoutPrefix passes on the values of src whose names do not start with
// prefix, to export the rest of a source whose fates went to AddFates.
func WithoutPrefix(prefix string, src Source) Source {
	return func(emit func(name, help string, value uint64)) {
		src(func(name, help string, v uint64) {
			if !strings.HasPrefix(name, prefix) {
				emit(name, help, v)
			}
		})
	}
}
