// Package protocol is the seam between the copier's session engine and the
// application protocol a route carries.
//
// Data flow, per replayed session:
//
//	captured client packets -> copier reassembles the client stream ------+
//	online server responses (routes whose Needs include Online) ----------+-> Protocol
//	target responses, payload records from the gateway (Needs Target) ----+
//	                                                                       |
//	Protocol -> client->target byte stream -> copier: MSS split, send, retransmit
//	         -> Marks (request start, response complete) -> copier pacing
//	         -> one Exchange per request -> comparison and metrics
//
// The engine calls a route's Protocol through Route.Protocol (a New). A nil
// New, or a Protocol whose Needs is zero (package protocol/tcp), is the
// passthrough: the engine keeps no protocol state for the session and sends
// the bytes exactly as captured, paced by the ack heuristic, at no extra
// cost per packet.
package protocol

// Needs says which streams a Protocol must see. Zero: none (passthrough).
type Needs uint8

const (
	// NeedsClient: the captured client stream goes through Client, whose
	// output is what the target receives.
	NeedsClient Needs = 1 << iota
	// NeedsOnline: the online server's responses go through Online (the
	// capture must include them).
	NeedsOnline
	// NeedsTarget: the target's responses go through Target (the gateway
	// must send payload records).
	NeedsTarget
)

// Mark reports message boundaries found in the bytes just handed over.
type Mark uint8

const (
	// RequestStart: a request begins in the bytes returned by Client;
	// pacing holds it until the previous response is complete.
	RequestStart Mark = 1 << iota
	// ResponseComplete: the response to the current request is complete
	// (reported by Online or Target for its stream); the next request may
	// go, and an Exchange is ready.
	ResponseComplete
)

// Exchange is one request and its responses, for comparison and metrics.
// It holds no payload: sizes, a protocol-defined kind and the verdict.
type Exchange struct {
	Request     int    // request number in the session, from 0
	Kind        string // protocol's name for the request (a command, a method); may be ""
	ClientBytes int    // request bytes as captured
	TargetIn    int    // request bytes as sent to the target (after rewriting)
	OnlineBytes int    // online server response bytes
	TargetBytes int    // target response bytes
	Same        bool   // the target answered as the online server did, by the protocol's comparison
}

// Protocol is one session's view of an application protocol. The engine
// calls it on the session's worker goroutine only, in stream order, never
// concurrently, and no call may keep a slice it was given.
//
// Contract:
//
//   - Client receives every byte of the captured client stream once, in
//     order, as it becomes contiguous (retransmitted or duplicate captured
//     bytes are not repeated). It appends to out the bytes the target must
//     receive in their place - the same, rewritten, more (inserted) or
//     fewer (removed) - and returns the extended slice. The engine keeps a
//     per-session offset map between captured client sequence numbers and
//     those sent to the target, translates the target's ACKs back through
//     it, splits the output at the target's MSS and keeps the rewritten
//     bytes so that retransmissions are identical.
//   - Online and Target receive the response streams the protocol Needs, in
//     order, each byte once. They too may append client->target bytes to
//     out: bytes the real client never sent at that point (an answer to
//     the target's own authentication challenge, commands held until the
//     target's reply gave what their rewriting needs). The engine sends
//     them after what Client returned before, through the same offset map.
//   - The returned Marks replace the ack-change heuristic for pacing: a
//     request is released when RequestStart is reported for it and the
//     previous request's ResponseComplete has been seen.
//   - After a call that reported ResponseComplete, the engine calls
//     Exchange once to take the finished exchange.
type Protocol interface {
	Needs() Needs
	Client(out, p []byte) ([]byte, Mark)
	Online(out, p []byte) ([]byte, Mark)
	Target(out, p []byte) ([]byte, Mark)
	Exchange(x *Exchange) bool
}

// New returns the Protocol state of one new session.
type New func() Protocol
