package capture

import "sync/atomic"

// Counter is one named counter value, exported for metrics.
type Counter struct {
	Name, Help string
	Value      uint64
}

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
}

// Counters returns the counters for metrics.
func (s *Stats) Counters() []Counter {
	return []Counter{
		{"capture_packets", "IP packets handed to the engine", s.Packets.Load()},
		{"capture_bytes", "bytes of IP packets handed to the engine", s.Bytes.Load()},
		{"capture_kernel_packets", "packets the kernel filter accepted", s.KernelPackets.Load()},
		{"capture_kernel_drops", "packets dropped by the kernel (capture ring full)", s.KernelDrops.Load()},
		{"capture_kernel_freezes", "TPACKET_V3 queue freezes", s.KernelFreezes.Load()},
		{"capture_non_ip", "captured frames without an IPv4/IPv6 packet", s.NonIP.Load()},
		{"capture_malformed", "captured frames that did not parse", s.Malformed.Load()},
		{"capture_filtered", "captured IP packets not for a filtered service", s.Filtered.Load()},
		{"capture_snap_cut", "packets cut by the snap length or capture block size (skipped)", s.SnapCut.Load()},
	}
}
