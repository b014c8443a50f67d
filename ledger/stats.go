package ledger

import (
	"sync/atomic"

	"github.com/replaygw/replaygw/counter"
)

// Stats counts the writer's work.
type Stats struct {
	Written   atomic.Uint64 // lines written
	Dropped   atomic.Uint64 // entries dropped: queue full or writer closed
	Rotations atomic.Uint64
	Errors    atomic.Uint64 // write, rotate or encode errors
}

// Counters lists the writer's counters with their metric names.
func (w *Writer) Counters() []counter.Metric {
	return []counter.Metric{
		counter.Of(&w.Stats.Written, "ledger_lines_written_total", "session ledger lines written"),
		counter.Of(&w.Stats.Dropped, "ledger_entries_dropped_total", "session ledger entries dropped (queue full or writer closed)"),
		counter.Of(&w.Stats.Rotations, "ledger_rotations_total", "session ledger file rotations"),
		counter.Of(&w.Stats.Errors, "ledger_errors_total", "session ledger write, rotate or encode errors"),
	}
}
