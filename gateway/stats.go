package gateway

import "sync/atomic"

// Counter is one named counter value, for the metrics endpoint.
type Counter struct {
	Name, Help string
	Value      uint64
}

// Stats are the gateway server's counters. All fields are safe for
// concurrent use.
type Stats struct {
	RecordsIn         atomic.Uint64 // records handed to Deliver
	RecordsRouted     atomic.Uint64 // records queued for a copier (held ones included)
	RecordsSent       atomic.Uint64 // records written to copiers
	FramesSent        atomic.Uint64 // record frames written to copiers
	Unrouted          atomic.Uint64 // no route and not held
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
}

// Counters lists the counters with their metric names.
func (s *Stats) Counters() []Counter {
	return []Counter{
		{"gateway_records_in", "response records handed to the gateway by the netstack", s.RecordsIn.Load()},
		{"gateway_records_routed", "records queued for the copier owning their session", s.RecordsRouted.Load()},
		{"gateway_records_sent", "records written to copiers", s.RecordsSent.Load()},
		{"gateway_record_frames_sent", "record batch frames written to copiers", s.FramesSent.Load()},
		{"gateway_records_unrouted", "records with no route, dropped", s.Unrouted.Load()},
		{"gateway_held_early", "SYN-ACK or RST records held until their route arrives", s.HeldEarly.Load()},
		{"gateway_held_delivered", "held records delivered after their route arrived", s.HeldDelivered.Load()},
		{"gateway_held_expired", "held records dropped because no route arrived in time", s.HeldExpired.Load()},
		{"gateway_dropped_hold_full", "early records dropped because the hold buffer was full", s.DroppedHold.Load()},
		{"gateway_dropped_queue_full", "records dropped because the copier's queue was full", s.DroppedQueue.Load()},
		{"gateway_dropped_copier_gone", "records dropped because their copier disconnected", s.DroppedGone.Load()},
		{"gateway_routes_added", "routes registered by copiers", s.RoutesAdded.Load()},
		{"gateway_routes_deleted", "routes deleted by copiers", s.RoutesDeleted.Load()},
		{"gateway_routes_expired", "routes expired after their TTL without traffic", s.RoutesExpired.Load()},
		{"gateway_routes_orphaned", "routes removed because their copier disconnected", s.RoutesOrphaned.Load()},
		{"gateway_routes_active", "routes held now", s.RoutesActive.Load()},
		{"gateway_routes_invalid", "route adds ignored because they can never match a response", s.RoutesInvalid.Load()},
		{"gateway_leases_refused", "lease adds refused because another copier holds the tuple", s.LeasesRefused.Load()},
		{"gateway_copiers_connected", "copiers connected now", s.CopiersConn.Load()},
		{"gateway_copiers_accepted", "authenticated copier connections accepted", s.CopiersTotal.Load()},
		{"gateway_copiers_stalled", "copiers disconnected because they stopped reading", s.CopiersStalled.Load()},
		{"gateway_auth_failures", "peers refused for a wrong token", s.AuthFailures.Load()},
		{"gateway_version_refused", "peers refused for another protocol version", s.VersionRefused.Load()},
		{"gateway_handshake_failures", "other failed handshakes (not a replaygw peer, timeout)", s.HandshakeFailures.Load()},
		{"gateway_pending_refused", "connections closed before authentication because too many handshakes were pending", s.PendingRefused.Load()},
		{"gateway_shares_refused", "copiers refused because every pool share was taken", s.SharesRefused.Load()},
		{"gateway_frames_malformed", "malformed or unexpected control frames (the copier is disconnected)", s.FramesMalformed.Load()},
	}
}

// dec decrements a gauge.
func dec(c *atomic.Uint64) { c.Add(^uint64(0)) }
