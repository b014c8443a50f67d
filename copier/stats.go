package copier

import "sync/atomic"

// Counter is one named counter value, for the metrics endpoint.
type Counter struct {
	Name, Help string
	Value      uint64
}

// Stats counts every stage of the session engine.
type Stats struct {
	PacketsIn         atomic.Uint64 // captured packets handed to the engine
	PacketsMalformed  atomic.Uint64 // not a parsable TCP segment
	PacketsUnmatched  atomic.Uint64 // no route for the destination
	PacketsQueueDrop  atomic.Uint64 // worker queue full
	CaptureWaits      atomic.Uint64 // packets that waited for room in a full worker queue
	PacketsNoSession  atomic.Uint64 // no session and cannot start one
	PacketsAfterEnd   atomic.Uint64 // for a session that already ended
	PureACKsDropped   atomic.Uint64 // client pure ACKs (never forwarded)
	CaptureDups       atomic.Uint64 // client retransmits / duplicates
	CaptureOutOfOrder atomic.Uint64 // segments stored beyond a hole
	BufferDrops       atomic.Uint64 // segments refused by buffer limits
	RecordsIn         atomic.Uint64
	RecordsUnknown    atomic.Uint64 // no live session for the tuple
	RecordsQueueDrop  atomic.Uint64

	PacketsSent      atomic.Uint64
	PayloadBytesSent atomic.Uint64 // retransmissions included
	PayloadBytesNew  atomic.Uint64 // first transmissions only
	SendErrors       atomic.Uint64
	SYNsSent         atomic.Uint64
	SynthesizedSYNs  atomic.Uint64
	ACKsSent         atomic.Uint64
	FINsSent         atomic.Uint64
	RSTsSent         atomic.Uint64
	Retransmits      atomic.Uint64
	FastRetransmits  atomic.Uint64 // on the third duplicate ACK (also in Retransmits)
	WindowProbes     atomic.Uint64
	ProbeACKs        atomic.Uint64 // answers to target keepalive/window probes and old data
	SegmentsSplit    atomic.Uint64 // extra segments from cutting super-packets
	RequestsReleased atomic.Uint64
	PaceHeld         atomic.Uint64 // requests held for a response
	PaceWaitExpired  atomic.Uint64 // held requests released by the wait cap

	TimerWakeups atomic.Uint64 // worker wake-ups to run timers

	SessionsStarted atomic.Uint64
	SessionsEnded   atomic.Uint64
	Fates           [numFates]atomic.Uint64
}

// Fate returns how many sessions ended with f.
func (s *Stats) Fate(f Fate) uint64 { return s.Fates[f].Load() }

// Counters lists every counter.
func (s *Stats) Counters() []Counter {
	c := []Counter{
		{"engine_packets_in", "captured packets handed to the engine", s.PacketsIn.Load()},
		{"engine_packets_malformed", "captured packets that are not parsable TCP", s.PacketsMalformed.Load()},
		{"engine_packets_unmatched", "captured packets matching no route", s.PacketsUnmatched.Load()},
		{"engine_packets_queue_dropped", "captured packets dropped: worker queue full", s.PacketsQueueDrop.Load()},
		{"engine_capture_waits", "captured packets that waited for room in a full worker queue (the capture ring buffered meanwhile)", s.CaptureWaits.Load()},
		{"engine_packets_no_session", "captured packets with no session that cannot start one", s.PacketsNoSession.Load()},
		{"engine_packets_after_end", "captured packets for sessions that already ended", s.PacketsAfterEnd.Load()},
		{"engine_pure_acks_dropped", "client pure ACKs, never forwarded", s.PureACKsDropped.Load()},
		{"engine_capture_duplicates", "client retransmits and duplicate captures", s.CaptureDups.Load()},
		{"engine_capture_out_of_order", "captured segments stored beyond a hole", s.CaptureOutOfOrder.Load()},
		{"engine_buffer_drops", "segments refused by buffer limits", s.BufferDrops.Load()},
		{"engine_records_in", "target response records handed to the engine", s.RecordsIn.Load()},
		{"engine_records_unknown", "records for no live session", s.RecordsUnknown.Load()},
		{"engine_records_queue_dropped", "records dropped: worker queue full", s.RecordsQueueDrop.Load()},
		{"engine_packets_sent", "packets sent to the target", s.PacketsSent.Load()},
		{"engine_payload_bytes_sent", "payload bytes sent to the target", s.PayloadBytesSent.Load()},
		{"engine_payload_bytes_new", "client payload bytes sent for the first time", s.PayloadBytesNew.Load()},
		{"engine_send_errors", "sender errors", s.SendErrors.Load()},
		{"engine_syns_sent", "SYNs sent, retransmits included", s.SYNsSent.Load()},
		{"engine_synthesized_syns", "sessions joined mid-stream with a synthesized handshake", s.SynthesizedSYNs.Load()},
		{"engine_acks_sent", "pure ACKs generated", s.ACKsSent.Load()},
		{"engine_fins_sent", "FINs sent", s.FINsSent.Load()},
		{"engine_rsts_sent", "RSTs sent", s.RSTsSent.Load()},
		{"engine_retransmits", "segments retransmitted", s.Retransmits.Load()},
		{"engine_fast_retransmits", "retransmissions on the third duplicate ACK", s.FastRetransmits.Load()},
		{"engine_window_probes", "zero-window probes sent", s.WindowProbes.Load()},
		{"engine_probe_acks", "ACKs answering target probes and old data", s.ProbeACKs.Load()},
		{"engine_segments_split", "extra segments from cutting super-packets to the MSS", s.SegmentsSplit.Load()},
		{"engine_requests_released", "requests released to the target", s.RequestsReleased.Load()},
		{"engine_pace_held", "requests held until the previous response was done", s.PaceHeld.Load()},
		{"engine_pace_wait_expired", "held requests released by the response wait cap", s.PaceWaitExpired.Load()},
		{"engine_timer_wakeups", "worker wake-ups to run session timers", s.TimerWakeups.Load()},
		{"engine_sessions_started", "sessions started towards the target", s.SessionsStarted.Load()},
		{"engine_sessions_ended", "sessions ended (all fates)", s.SessionsEnded.Load()},
	}
	for f := Fate(0); f < numFates; f++ {
		c = append(c, Counter{"engine_sessions_" + f.String(), "sessions ended with fate " + f.String(), s.Fates[f].Load()})
	}
	return c
}

// EachFate calls fn with every fate's name and session count.
func (s *Stats) EachFate(fn func(fate string, sessions uint64)) {
	for f := Fate(0); f < numFates; f++ {
		fn(f.String(), s.Fates[f].Load())
	}
}
