package capture

import (
	"sync/atomic"

	"github.com/replaygw/replaygw/counter"
)

// Stats counts what a packet source saw. All fields are safe for concurrent
// use.
type Stats struct {
	Packets       atomic.Uint64 // IP packets handed out
	Bytes         atomic.Uint64 // bytes of those IP packets
	KernelPackets atomic.Uint64 // packets the kernel passed the filter (live)
	KernelDrops   atomic.Uint64 // packets the kernel dropped: ring full (live)
	KernelFreezes atomic.Uint64 // TPACKET_V3 queue freezes (live)
	NonIP         atomic.Uint64 // frames that carried no IPv4/IPv6 packet
	Malformed     atomic.Uint64 // frames or IP headers that did not parse
	Filtered      atomic.Uint64 // IP packets not for a filtered service (live)
	SnapCut       atomic.Uint64 // packets cut by the snap length (or ring block size), skipped
	RingGrowths   atomic.Uint64 // rings replaced by a larger one (live)
}

// Counters lists the counters with their metric names.
func (s *Stats) Counters() []counter.Metric {
	skipped := counter.Of(nil, "capture_packets_skipped_total", "captured frames not handed to the engine, by reason (non_ip: no IPv4/IPv6 packet; malformed: did not parse; filtered: not for a filtered service; snap_cut: cut by the snap length or capture block size)")
	return []counter.Metric{
		counter.Of(&s.Packets, "capture_packets_total", "IP packets handed to the engine"),
		counter.Of(&s.Bytes, "capture_bytes_total", "bytes of IP packets handed to the engine"),
		counter.Of(&s.KernelPackets, "capture_kernel_packets_total", "packets the kernel filter accepted"),
		counter.Of(&s.KernelDrops, "capture_kernel_drops_total", "packets dropped by the kernel (capture ring full)"),
		counter.Of(&s.KernelFreezes, "capture_kernel_freezes_total", "TPACKET_V3 queue freezes"),
		counter.Of(&s.RingGrowths, "capture_ring_growths_total", "capture rings replaced by one of the configured size (capture_ring_mb) under pressure"),
		skipped.At(&s.NonIP).With("reason", "non_ip"),
		skipped.At(&s.Malformed).With("reason", "malformed"),
		skipped.At(&s.Filtered).With("reason", "filtered"),
		skipped.At(&s.SnapCut).With("reason", "snap_cut"),
	}
}

// Counters lists the capture's counters, the kernel's ring statistics
// pulled from the sockets at each read.
func (l *Live) Counters() []counter.Metric {
	ms := l.stats.Counters()
	for i, m := range ms {
		switch m.Name {
		case "capture_kernel_packets_total", "capture_kernel_drops_total", "capture_kernel_freezes_total":
			ms[i] = m.Refreshed(l.updateKernelStats)
		}
	}
	return ms
}
