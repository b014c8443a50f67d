package absorb

import (
	"sync/atomic"

	"github.com/replaygw/replaygw/counter"
)

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
	Ticks           atomic.Uint64 // drains on the tick while packets flow
	Waits           atomic.Uint64 // times a reader went idle and waited for a packet
}

// Counters lists the counters with their metric names.
func (s *Stats) Counters() []counter.Metric {
	absorbed := counter.Of(nil, "tun_absorbed_total", "Packets to the client pool absorbed, by IP protocol (tcp: reported to the Handler; udp, icmp: by the netstack).")
	return []counter.Metric{
		counter.Of(&s.PacketsRead, "tun_packets_read_total", "Packets read from the TUN."),
		counter.Of(&s.BytesRead, "tun_read_bytes_total", "Bytes read from the TUN."),
		absorbed.At(&s.TCPAbsorbed).With("proto", "tcp"),
		absorbed.At(&s.UDPAbsorbed).With("proto", "udp"),
		absorbed.At(&s.ICMPAbsorbed).With("proto", "icmp"),
		counter.Of(&s.TCPViaStack, "tun_tcp_via_stack_total", "TCP segments that needed the netstack (fragments, IPv6 extension headers)."),
		counter.Of(&s.Malformed, "tun_malformed_total", "Packets dropped for a bad IP or TCP header or length."),
		counter.Of(&s.ToStack, "tun_to_stack_total", "Non-fast-path packets injected into the netstack."),
		counter.Of(&s.EchoRequests, "tun_echo_requests_total", "ICMP echo requests to the pool seen while answer_ping is on."),
		counter.Of(&s.WritesAttempted, "tun_writes_attempted_total", "Packets the netstack tried to send; dropped. Must stay 0."),
		counter.Of(&s.WritesAllowed, "tun_writes_allowed_total", "ICMP echo replies written to the TUN."),
		counter.Of(&s.WriteErrors, "tun_write_errors_total", "ICMP echo replies the TUN refused."),
		counter.Of(&s.ReadErrors, "tun_read_errors_total", "Failed TUN reads."),
		counter.Of(&s.Ticks, "tun_reader_ticks_total", "Ticks of a TUN reader while packets flow (one drain each)."),
		counter.Of(&s.Waits, "tun_reader_waits_total", "Times a TUN reader went idle and waited for the next packet."),
	}
}

// Counters lists the stack's counters, summed live over the readers of
// every queue and the shared ones (Stats is a snapshot; this is not).
func (s *Stack) Counters() []counter.Metric {
	lists := [][]counter.Metric{s.shared.Counters()}
	for _, r := range s.readers {
		lists = append(lists, r.stats.Counters())
	}
	return counter.Sum(lists...)
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
	s.Ticks.Add(o.Ticks.Load())
	s.Waits.Add(o.Waits.Load())
}

// inc adds one to a counter that has a single writer (the queue's reader):
// a plain load and store, no locked instruction on the hot path.
func inc(c *atomic.Uint64) { c.Store(c.Load() + 1) }
