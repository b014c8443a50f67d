package copier

import (
	"sync/atomic"

	"github.com/replaygw/replaygw/counter"
)

// Stats counts every stage of the session engine.
type Stats struct {
	PacketsIn         atomic.Uint64 // captured packets handed to the engine
	PacketsMalformed  atomic.Uint64 // not a parsable TCP segment
	PacketsUnmatched  atomic.Uint64 // no route for the destination
	PacketsQueueDrop  atomic.Uint64 // worker queue full
	CaptureWaits      atomic.Uint64 // packets that waited for room in a full worker queue
	RecordWaits       atomic.Uint64 // gateway records that waited for room in a full worker queue
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

	// The protocol layer (proto.go).
	OnlinePacketsIn    atomic.Uint64 // captured online server packets of routes whose protocol reads them
	OnlineNoSession    atomic.Uint64 // of those, for no live session
	OnlineDrops        atomic.Uint64 // online server segments refused by the session buffer limit
	ProtoBytesOut      atomic.Uint64 // bytes the protocols queued for the target (rewritten, inserted)
	ProtoBytesAfterEnd atomic.Uint64 // protocol output after the client's FIN, not sent
	TargetPayloadShort atomic.Uint64 // records whose payload was cut, for a protocol that reads the target
	Exchanges          atomic.Uint64 // exchanges the protocols reported

	SessionsStarted atomic.Uint64
	SessionsEnded   atomic.Uint64
	// SessionsReestablished counts new connections to the target opened
	// for a session whose connection the target reset or closed.
	SessionsReestablished atomic.Uint64
	// ReopensGivenUp counts sessions ended because the target ended
	// maxQuickReopens reopened connections in a row within quickConn.
	ReopensGivenUp atomic.Uint64
	// StaleResets counts RSTs sent for an older connection the target
	// still held on a new session's tuple (its ACK answered our SYN).
	StaleResets atomic.Uint64
	// SynRefused counts sessions whose SYN the target refused with RST
	// at least once (then retried until the SYN deadline).
	SynRefused atomic.Uint64
	Fates      [numFates]atomic.Uint64
}

// Fate returns how many sessions ended with f.
func (s *Stats) Fate(f Fate) uint64 { return s.Fates[f].Load() }

// Counters lists every counter with its metric name.
func (s *Stats) Counters() []counter.Metric {
	dropped := counter.Of(nil, "engine_packets_dropped_total", "captured packets dropped before a session, by reason (malformed: not parsable TCP; unmatched: no route; queue_full: worker queue full; no_session: no session and cannot start one; after_end: the session already ended)")
	records := counter.Of(nil, "engine_records_dropped_total", "target response records dropped, by reason (unknown_session: no live session for the tuple; closing: the engine was shutting down; a full worker queue makes the gateway link wait instead, engine_record_waits_total)")
	segments := counter.Of(nil, "engine_segments_sent_total", "control segments sent to the target, by kind (syn: retransmits included; ack: pure ACKs, probe answers included; fin; rst; window_probe: zero-window probes)")
	ended := counter.Of(nil, "engine_sessions_ended_total", "sessions ended, by fate")
	c := []counter.Metric{
		counter.Of(&s.PacketsIn, "engine_packets_in_total", "captured packets handed to the engine"),
		dropped.At(&s.PacketsMalformed).With("reason", "malformed"),
		dropped.At(&s.PacketsUnmatched).With("reason", "unmatched"),
		dropped.At(&s.PacketsQueueDrop).With("reason", "queue_full"),
		dropped.At(&s.PacketsNoSession).With("reason", "no_session"),
		dropped.At(&s.PacketsAfterEnd).With("reason", "after_end"),
		counter.Of(&s.CaptureWaits, "engine_capture_waits_total", "captured packets that waited for room in a full worker queue (the capture ring buffered meanwhile)"),
		counter.Of(&s.RecordWaits, "engine_record_waits_total", "gateway records that waited for room in a full worker queue (the control connection and the gateway buffered meanwhile)"),
		counter.Of(&s.PureACKsDropped, "engine_client_pure_acks_total", "client pure ACKs, never forwarded"),
		counter.Of(&s.CaptureDups, "engine_capture_duplicates_total", "client retransmits and duplicate captures"),
		counter.Of(&s.CaptureOutOfOrder, "engine_capture_out_of_order_total", "captured segments stored beyond a hole"),
		counter.Of(&s.BufferDrops, "engine_buffer_drops_total", "segments refused by buffer limits"),
		counter.Of(&s.RecordsIn, "engine_records_in_total", "target response records handed to the engine"),
		records.At(&s.RecordsUnknown).With("reason", "unknown_session"),
		records.At(&s.RecordsQueueDrop).With("reason", "closing"),
		counter.Of(&s.PacketsSent, "engine_packets_sent_total", "packets sent to the target"),
		counter.Of(&s.PayloadBytesSent, "engine_payload_sent_bytes_total", "payload bytes sent to the target, retransmissions included"),
		counter.Of(&s.PayloadBytesNew, "engine_payload_new_bytes_total", "client payload bytes sent for the first time"),
		counter.Of(&s.SendErrors, "engine_send_errors_total", "packets the sender refused"),
		segments.At(&s.SYNsSent).With("kind", "syn"),
		segments.At(&s.ACKsSent).With("kind", "ack"),
		segments.At(&s.FINsSent).With("kind", "fin"),
		segments.At(&s.RSTsSent).With("kind", "rst"),
		segments.At(&s.WindowProbes).With("kind", "window_probe"),
		counter.Of(&s.SynthesizedSYNs, "engine_synthesized_syns_total", "sessions joined mid-stream with a synthesized handshake"),
		counter.Of(&s.StaleResets, "engine_stale_resets_total", "RSTs sent for an older connection the target still held on a new session's tuple"),
		counter.Of(&s.SynRefused, "engine_syn_refused_total", "sessions whose SYN the target refused with RST at least once (retried until syn_timeout)"),
		counter.Of(&s.SessionsReestablished, "engine_sessions_reestablished_total", "new connections to the target for sessions whose connection the target reset or closed"),
		counter.Of(&s.ReopensGivenUp, "engine_reopens_given_up_total", "sessions ended because the target ended 3 reopened connections in a row within a second each"),
		counter.Of(&s.Retransmits, "engine_retransmits_total", "segments retransmitted"),
		counter.Of(&s.FastRetransmits, "engine_fast_retransmits_total", "retransmissions on the third duplicate ACK (also in engine_retransmits_total)"),
		counter.Of(&s.ProbeACKs, "engine_probe_acks_total", "ACKs answering target probes and old data (also in engine_segments_sent_total{kind=\"ack\"})"),
		counter.Of(&s.SegmentsSplit, "engine_segments_split_total", "extra segments from cutting super-packets to the MSS"),
		counter.Of(&s.RequestsReleased, "engine_requests_released_total", "requests released to the target"),
		counter.Of(&s.PaceHeld, "engine_requests_held_total", "requests held until the previous response was done"),
		counter.Of(&s.PaceWaitExpired, "engine_requests_wait_expired_total", "held requests released by the response wait cap"),
		counter.Of(&s.TimerWakeups, "engine_timer_wakeups_total", "worker wake-ups to run session timers"),
		counter.Of(&s.OnlinePacketsIn, "engine_online_packets_in_total", "captured online server packets of routes whose protocol reads the server's responses"),
		dropped.At(&s.OnlineNoSession).With("reason", "online_no_session"),
		dropped.At(&s.OnlineDrops).With("reason", "online_buffer_limit"),
		counter.Of(&s.ProtoBytesOut, "engine_protocol_bytes_out_total", "bytes the route protocols queued for the target (as rewritten, inserted bytes included)"),
		counter.Of(&s.ProtoBytesAfterEnd, "engine_protocol_bytes_after_end_total", "protocol output produced after the client's FIN was queued, not sent"),
		counter.Of(&s.TargetPayloadShort, "engine_target_payload_short_total", "target response records whose payload was cut, for a protocol that reads the target's responses (the session ends: protocol)"),
		counter.Of(&s.Exchanges, "engine_exchanges_total", "request/response exchanges the route protocols reported"),
		counter.Of(&s.SessionsStarted, "engine_sessions_started_total", "sessions started towards the target"),
	}
	for f := Fate(0); f < numFates; f++ {
		c = append(c, ended.At(&s.Fates[f]).With("fate", f.String()))
	}
	return c
}

// EachFate calls fn with every fate's name and session count.
func (s *Stats) EachFate(fn func(fate string, sessions uint64)) {
	for f := Fate(0); f < numFates; f++ {
		fn(f.String(), s.Fates[f].Load())
	}
}

// Counters lists the gateway client's counters with their metric names.
func (s *GatewayStats) Counters() []counter.Metric {
	refused := counter.Of(nil, "gateway_client_handshakes_refused_total", "handshakes a gateway refused, by reason (token: token mismatch; version: protocol version mismatch)")
	out := []counter.Metric{
		counter.Of(&s.Connects, "gateway_client_connects_total", "authenticated connections to gateways made"),
		counter.Of(&s.Disconnects, "gateway_client_disconnects_total", "authenticated gateway connections lost"),
		counter.Of(&s.DialFailures, "gateway_client_dial_failures_total", "gateway dials or handshakes that failed (refusals excluded)"),
		refused.At(&s.AuthRefused).With("reason", "token"),
		refused.At(&s.VersionRefused).With("reason", "version"),
		counter.Of(&s.RoutesSent, "gateway_client_lease_adds_sent_total", "lease adds written to gateways (per gateway)"),
		counter.Of(&s.RouteDelsSent, "gateway_client_lease_releases_sent_total", "lease releases written to gateways (per gateway)"),
		counter.Of(&s.RoutesOverflow, "gateway_client_backlog_redials_total", "gateway connections redialed because lease updates piled up"),
		counter.Of(&s.LeasesDeferred, "gateway_client_leases_deferred_total", "leases taken while the gateway was briefly gone (within the reconnect grace), sent when it is back"),
		counter.Of(&s.LeasesRefused, "gateway_client_leases_refused_total", "leases a gateway refused because another copier holds the tuple (the session ends: lease_taken)"),
		counter.Of(&s.LeasesImplicit, "gateway_client_leases_implicit_total", "leases not sent: the only gateway hands this copier the records nobody leased while it has the whole pool"),
		counter.Of(&s.ShareChanges, "gateway_client_share_changes_total", "changes of the client pool share this copier picks tuples from"),
		counter.Of(&s.RecordsReceived, "gateway_client_records_received_total", "response records received from gateways"),
		counter.Of(&s.FramesMalformed, "gateway_client_frames_malformed_total", "malformed frames received from gateways (the connection is redialed)"),
	}
	return append(out, s.exchangeCounters()...)
}

// counters lists a sender's stats, labelled sender=kind.
func (s *SendStats) counters(kind string) []counter.Metric {
	errs := counter.Of(nil, "sender_errors_total", "packets the sender's kernel refused, by errno (invalid_packet, no_neighbour and other are not errnos)").With("sender", kind)
	c := []counter.Metric{
		counter.Of(&s.Sent, "sender_packets_sent_total", "packets handed to the kernel").With("sender", kind),
		counter.Of(&s.Bytes, "sender_sent_bytes_total", "IP bytes handed to the kernel").With("sender", kind),
	}
	for i, r := range sendErrorReasons {
		c = append(c, errs.At(&s.Errors[i]).With("errno", r.name))
	}
	return c
}

// Counters lists the sender's counters.
func (s *L2Sender) Counters() []counter.Metric { return s.stats.counters("l2") }

// Counters lists the sender's counters.
func (s *TUNSender) Counters() []counter.Metric { return s.stats.counters("tun") }

// Counters lists the sender's counters.
func (s *RawSender) Counters() []counter.Metric { return s.stats.counters("raw") }
