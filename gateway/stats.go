package gateway

import (
	"sync/atomic"

	"github.com/replaygw/replaygw/counter"
)

// Stats are the gateway server's counters. All fields are safe for
// concurrent use.
type Stats struct {
	RecordsIn         atomic.Uint64 // records handed to Deliver
	RecordsRouted     atomic.Uint64 // records queued for a copier (held ones included)
	RecordsSent       atomic.Uint64 // records written to copiers
	FramesSent        atomic.Uint64 // record frames written to copiers
	Unrouted          atomic.Uint64 // no route and not held
	RecordsImplicit   atomic.Uint64 // records of unleased tuples handed to the copier that has the whole pool
	HeldEarly         atomic.Uint64 // SYN-ACK/RST held waiting for its route
	HeldDelivered     atomic.Uint64 // held records delivered after the route arrived
	HeldExpired       atomic.Uint64 // held records whose route never came
	DroppedHold       atomic.Uint64 // early records dropped: hold buffer full
	DroppedQueue      atomic.Uint64 // dropped: the copier's queue was full
	DroppedGone       atomic.Uint64 // dropped: the owning copier disconnected
	RoutesAdded       atomic.Uint64
	RoutesDeleted     atomic.Uint64
	RoutesExpired     atomic.Uint64
	RoutesOrphaned    atomic.Uint64 // removed because their copier disconnected
	RoutesActive      atomic.Uint64 // gauge
	RoutesInvalid     atomic.Uint64 // well-formed route adds that can never match (ignored)
	LeasesRefused     atomic.Uint64 // lease adds refused: another copier holds the tuple
	CopiersConn       atomic.Uint64 // gauge: copiers connected now
	CopiersTotal      atomic.Uint64 // authenticated connections accepted
	CopiersStalled    atomic.Uint64 // disconnected because they stopped reading
	AuthFailures      atomic.Uint64
	VersionRefused    atomic.Uint64
	HandshakeFailures atomic.Uint64 // other handshake failures (not a replaygw peer, timeout)
	PendingRefused    atomic.Uint64 // connections closed before authentication: too many handshakes pending
	SharesRefused     atomic.Uint64 // authenticated copiers refused: every pool share taken
	FramesMalformed   atomic.Uint64 // bad control frames from copiers (the copier is closed)
	PayloadCut        atomic.Uint64 // records of payload leases whose payload was cut short of the segment
	PayloadCutBytes   atomic.Uint64 // payload bytes those records missed
	ExchangesIn       atomic.Uint64 // exchange frames received and handed to OnExchange
	ExchangesBad      atomic.Uint64 // exchange frames that failed to decode (skipped)
	ExchangesIgnored  atomic.Uint64 // exchange frames received without an OnExchange
	LeasesPayload     atomic.Uint64 // lease adds asking for whole payloads
}

// Counters lists the counters and gauges with their metric names.
func (s *Stats) Counters() []counter.Metric {
	dropped := counter.Of(nil, "gateway_records_dropped_total", "response records dropped, by reason (unrouted: no lease and not held; held_expired: held, no lease came in time; hold_full: the early-record hold was full; queue_full: the copier's queue was full; copier_gone: the copier disconnected)")
	removed := counter.Of(nil, "gateway_leases_removed_total", "leases removed, by reason (released: by their copier; expired: TTL passed without traffic; orphaned: their copier disconnected)")
	refused := counter.Of(nil, "gateway_handshakes_failed_total", "control connections refused in the handshake, by reason (token: wrong token; version: another protocol version; other: not a replaygw peer, timeout; no_share: every pool share taken)")
	exchanges := counter.Of(nil, "gateway_exchanges_received_total", "exchange frames from copiers, by result (accepted: handed to the compare sink; malformed: failed to decode, skipped; ignored: no compare sink)")
	return []counter.Metric{
		counter.Of(&s.RecordsIn, "gateway_records_in_total", "response records handed to the gateway by the netstack"),
		counter.Of(&s.RecordsRouted, "gateway_records_routed_total", "records queued for the copier holding their session's lease"),
		counter.Of(&s.RecordsImplicit, "gateway_records_implicit_total", "records of tuples nobody leased, handed to the only copier (it has the whole pool and leases only sessions that need flags; also in gateway_records_routed_total)"),
		counter.Of(&s.RecordsSent, "gateway_records_sent_total", "records written to copiers"),
		counter.Of(&s.FramesSent, "gateway_record_frames_sent_total", "record batch frames written to copiers"),
		dropped.At(&s.Unrouted).With("reason", "unrouted"),
		dropped.At(&s.HeldExpired).With("reason", "held_expired"),
		dropped.At(&s.DroppedHold).With("reason", "hold_full"),
		dropped.At(&s.DroppedQueue).With("reason", "queue_full"),
		dropped.At(&s.DroppedGone).With("reason", "copier_gone"),
		counter.Of(&s.HeldEarly, "gateway_records_held_total", "SYN-ACK or RST records held until their lease arrives"),
		counter.Of(&s.HeldDelivered, "gateway_records_held_delivered_total", "held records delivered after their lease arrived"),
		counter.Of(&s.RoutesAdded, "gateway_leases_added_total", "leases added by copiers"),
		removed.At(&s.RoutesDeleted).With("reason", "released"),
		removed.At(&s.RoutesExpired).With("reason", "expired"),
		removed.At(&s.RoutesOrphaned).With("reason", "orphaned"),
		counter.GaugeOf(&s.RoutesActive, "gateway_leases_active", "leases in the gateway's table now (one per replayed session)"),
		counter.Of(&s.RoutesInvalid, "gateway_leases_invalid_total", "lease adds ignored because they can never match a response"),
		counter.Of(&s.LeasesRefused, "gateway_leases_refused_total", "lease adds refused because another copier holds the tuple (the copier ends that session: lease_taken)"),
		counter.GaugeOf(&s.CopiersConn, "gateway_copiers_connected", "copiers connected now"),
		counter.Of(&s.CopiersTotal, "gateway_copiers_accepted_total", "authenticated copier connections accepted"),
		counter.Of(&s.CopiersStalled, "gateway_copiers_stalled_total", "copiers disconnected because they stopped reading"),
		refused.At(&s.AuthFailures).With("reason", "token"),
		refused.At(&s.VersionRefused).With("reason", "version"),
		refused.At(&s.HandshakeFailures).With("reason", "other"),
		refused.At(&s.SharesRefused).With("reason", "no_share"),
		counter.Of(&s.PendingRefused, "gateway_handshakes_pending_dropped_total", "control connections closed before their handshake ended because too many were pending (the oldest, or one from a source over its quarter of the slots)"),
		counter.Of(&s.FramesMalformed, "gateway_frames_malformed_total", "malformed or unexpected control frames (the copier is disconnected)"),
		counter.Of(&s.LeasesPayload, "gateway_leases_payload_total", "lease adds asking for the whole payload of every record (sessions whose protocol reads the target's responses)"),
		counter.Of(&s.PayloadCut, "gateway_records_payload_cut_total", "records of whole-payload leases whose payload was cut short of the segment (the netstack's payload cap)"),
		counter.Of(&s.PayloadCutBytes, "gateway_records_payload_cut_bytes_total", "payload bytes missing from those records"),
		exchanges.At(&s.ExchangesIn).With("result", "accepted"),
		exchanges.At(&s.ExchangesBad).With("result", "malformed"),
		exchanges.At(&s.ExchangesIgnored).With("result", "ignored"),
	}
}

// dec decrements a gauge.
func dec(c *atomic.Uint64) { c.Add(^uint64(0)) }
