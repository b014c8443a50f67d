package absorb

import "sync/atomic"

// Counter is one named counter value, for logs and Prometheus.
type Counter struct {
	Name, Help string
	Value      uint64
}

// Stats are the black hole's counters.
type Stats struct {
	PacketsRead     atomic.Uint64 // packets read from the TUN
	BytesRead       atomic.Uint64 // their bytes
	TCPAbsorbed     atomic.Uint64 // TCP segments handed to the Handler (fast path and via the stack)
	TCPViaStack     atomic.Uint64 // of which needed the netstack (fragments, IPv6 extension headers)
	Malformed       atomic.Uint64 // bad IP or TCP header, bad length, unknown IP version
	ToStack         atomic.Uint64 // packets injected into the netstack
	UDPAbsorbed     atomic.Uint64 // UDP datagrams absorbed by the netstack
	ICMPAbsorbed    atomic.Uint64 // ICMP/ICMPv6 messages absorbed by the netstack
	EchoRequests    atomic.Uint64 // ICMP echo requests seen on the fast path (AnswerPing on)
	WritesAttempted atomic.Uint64 // packets the netstack tried to send (dropped); must stay 0
	WritesAllowed   atomic.Uint64 // echo replies written to the TUN (AnswerPing)
	WriteErrors     atomic.Uint64 // echo replies the TUN refused
	ReadErrors      atomic.Uint64 // failed reads
}

// Counters lists the counters with their Prometheus-style names.
func (s *Stats) Counters() []Counter {
	return []Counter{
		{"tun_packets_read", "Packets read from the TUN.", s.PacketsRead.Load()},
		{"tun_bytes_read", "Bytes read from the TUN.", s.BytesRead.Load()},
		{"tun_tcp_absorbed", "TCP segments absorbed and reported.", s.TCPAbsorbed.Load()},
		{"tun_tcp_via_stack", "TCP segments that needed the netstack (fragments, IPv6 extension headers).", s.TCPViaStack.Load()},
		{"tun_malformed", "Packets dropped for a bad IP or TCP header or length.", s.Malformed.Load()},
		{"tun_to_stack", "Non-fast-path packets injected into the netstack.", s.ToStack.Load()},
		{"tun_udp_absorbed", "UDP datagrams absorbed by the netstack.", s.UDPAbsorbed.Load()},
		{"tun_icmp_absorbed", "ICMP and ICMPv6 messages absorbed by the netstack.", s.ICMPAbsorbed.Load()},
		{"tun_echo_requests", "ICMP echo requests to the pool seen while answer_ping is on.", s.EchoRequests.Load()},
		{"tun_writes_attempted", "Packets the netstack tried to send; dropped. Must stay 0.", s.WritesAttempted.Load()},
		{"tun_writes_allowed", "ICMP echo replies written to the TUN.", s.WritesAllowed.Load()},
		{"tun_write_errors", "ICMP echo replies the TUN refused.", s.WriteErrors.Load()},
		{"tun_read_errors", "Failed TUN reads.", s.ReadErrors.Load()},
	}
}

// add accumulates o into s (for the sum over queues).
func (s *Stats) add(o *Stats) {
	s.PacketsRead.Add(o.PacketsRead.Load())
	s.BytesRead.Add(o.BytesRead.Load())
	s.TCPAbsorbed.Add(o.TCPAbsorbed.Load())
	s.TCPViaStack.Add(o.TCPViaStack.Load())
	s.Malformed.Add(o.Malformed.Load())
	s.ToStack.Add(o.ToStack.Load())
	s.UDPAbsorbed.Add(o.UDPAbsorbed.Load())
	s.ICMPAbsorbed.Add(o.ICMPAbsorbed.Load())
	s.EchoRequests.Add(o.EchoRequests.Load())
	s.WritesAttempted.Add(o.WritesAttempted.Load())
	s.WritesAllowed.Add(o.WritesAllowed.Load())
	s.WriteErrors.Add(o.WriteErrors.Load())
	s.ReadErrors.Add(o.ReadErrors.Load())
}

// inc adds one to a counter that has a single writer (the queue's reader):
// a plain load and store, no locked instruction on the hot path.
func inc(c *atomic.Uint64) { c.Store(c.Load() + 1) }
