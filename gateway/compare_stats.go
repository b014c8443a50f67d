package gateway

import (
	"sync/atomic"

	"github.com/replaygw/replaygw/counter"
)

// CompareStats count the work of a gateway's compare sink (the role's
// CompareSink fills them; the gateway itself only hands exchanges over).
type CompareStats struct {
	Compared     atomic.Uint64 // main exchanges compared and handed to the store
	Differing    atomic.Uint64 // of those, differing (noise left out)
	Status       atomic.Uint64 // differing in status
	Headers      atomic.Uint64 // differing in headers
	Body         atomic.Uint64 // differing in body
	NoiseIn      atomic.Uint64 // exchanges of noise-target sessions received
	Noisy        atomic.Uint64 // compared exchanges with differences classed as noise
	Unpaired     atomic.Uint64 // exchanges of noise routes compared without their noise twin
	FramingFails atomic.Uint64 // responses that did not frame as their protocol (compared as bytes)
	QueueFull    atomic.Uint64 // dropped: the sink's queue was full
	StoreFull    atomic.Uint64 // the store's queue was full (counted there, not written)
}

// Counters lists the sink's counters with their metric names.
func (s *CompareStats) Counters() []counter.Metric {
	kinds := counter.Of(nil, "compare_differences_total", "compared exchanges that differ, by kind of difference (status, headers, body; one exchange may count in several)")
	dropped := counter.Of(nil, "compare_exchanges_dropped_total", "exchanges not compared or not written, by reason (queue_full: the compare queue was full; store_full: the result store's queue was full, counted in its counts only)")
	return []counter.Metric{
		counter.Of(&s.Compared, "compare_exchanges_total", "exchanges compared (target against production)"),
		counter.Of(&s.Differing, "compare_exchanges_differing_total", "compared exchanges with a difference that is not noise"),
		kinds.At(&s.Status).With("kind", "status"),
		kinds.At(&s.Headers).With("kind", "headers"),
		kinds.At(&s.Body).With("kind", "body"),
		counter.Of(&s.NoiseIn, "compare_noise_exchanges_total", "exchanges of noise-target sessions (production against a second production build)"),
		counter.Of(&s.Noisy, "compare_exchanges_noisy_total", "compared exchanges with differences classed as noise"),
		counter.Of(&s.Unpaired, "compare_exchanges_unpaired_total", "exchanges of routes with a noise target compared without their noise twin (it came too late or never)"),
		counter.Of(&s.FramingFails, "compare_framing_failures_total", "responses that did not frame as the route's protocol and were compared as bytes"),
		dropped.At(&s.QueueFull).With("reason", "queue_full"),
		dropped.At(&s.StoreFull).With("reason", "store_full"),
	}
}
