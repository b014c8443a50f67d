package copier

import (
	"context"
	"log/slog"
	"time"
)

// Watching for a copier that falls behind its traffic: packets the kernel
// dropped from the capture ring, packets or records refused by a full
// worker queue, and capture waits (the worker queue was full; no loss yet,
// but the ring is filling). Each interval with any of them logs one
// warning with the counts and what to do, instead of losing sessions
// silently between two looks at the metrics.

// behindInterval is how often the counters are compared.
const behindInterval = 10 * time.Second

// behindCounts are the counters that grow when the copier falls behind.
type behindCounts struct {
	kernelDrops, queueDrops, recordDrops, waits, recordWaits uint64
}

func readBehind(src Source, es *Stats) behindCounts {
	var b behindCounts
	if src != nil {
		b.kernelDrops = src.KernelDrops()
	}
	b.queueDrops = es.PacketsQueueDrop.Load()
	b.recordDrops = es.RecordsQueueDrop.Load()
	b.waits = es.CaptureWaits.Load()
	b.recordWaits = es.RecordWaits.Load()
	return b
}

// warnBehind logs what grew between prev and cur; it reports whether it
// logged.
func warnBehind(log *slog.Logger, prev, cur behindCounts, workers int, every time.Duration) bool {
	d := behindCounts{
		kernelDrops: cur.kernelDrops - prev.kernelDrops,
		queueDrops:  cur.queueDrops - prev.queueDrops,
		recordDrops: cur.recordDrops - prev.recordDrops,
		waits:       cur.waits - prev.waits,
		recordWaits: cur.recordWaits - prev.recordWaits,
	}
	if d == (behindCounts{}) {
		return false
	}
	msg := "copier falling behind: captured packets or gateway records waited for a full worker queue"
	if d.kernelDrops+d.queueDrops+d.recordDrops > 0 {
		msg = "copier falling behind: packets lost, sessions will miss requests"
	}
	log.Warn(msg, "interval", every,
		"capture_kernel_drops", d.kernelDrops, "engine_packets_queue_dropped", d.queueDrops,
		"engine_records_queue_dropped", d.recordDrops, "engine_capture_waits", d.waits, "engine_record_waits", d.recordWaits,
		"workers", workers, "fix", "raise copy.workers (each worker runs on a CPU of its own), or sample sessions (copy.sample_percent)")
	return true
}

// watchBehind compares the counters every interval until ctx ends.
func (c *Copier) watchBehind(ctx context.Context, src Source, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	prev := readBehind(src, c.eng.Stats())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cur := readBehind(src, c.eng.Stats())
			warnBehind(c.log, prev, cur, len(c.eng.workers), every)
			prev = cur
		}
	}
}
