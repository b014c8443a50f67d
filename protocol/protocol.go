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

import "net/netip"

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

// Side names one of a session's three streams.
type Side uint8

const (
	SideClient Side = iota // the captured client stream
	SideOnline             // the online server's responses, as captured
	SideTarget             // the target's responses, from the gateway
)

func (s Side) String() string {
	switch s {
	case SideClient:
		return "client"
	case SideOnline:
		return "online"
	case SideTarget:
		return "target"
	}
	return "side?"
}

// Start describes the session a Protocol is opened for.
type Start struct {
	// Client is the real client's address as captured.
	Client netip.AddrPort
	// Midstream: the capture did not see the session's SYN (a pooled
	// connection opened before the copier started).
	Midstream bool
}

// Fate is why a Protocol stopped replaying its session. Code is the name
// counted in metrics and the ledger (mysql_no_password, ...); Detail is
// for the log line and names what was wrong (a user, a statement id).
type Fate struct {
	Code   string
	Detail string
}

func (f *Fate) Error() string {
	if f.Detail == "" {
		return f.Code
	}
	return f.Code + ": " + f.Detail
}

// Exchange is one request and its responses, for comparison and metrics.
//
// Payload fields are set only by protocols that keep them (routes that
// compare); they alias the Protocol's buffers and are valid until the next
// call on it. Times are Unix nanoseconds, 0 when unknown: the protocol
// stamps the captured ones from the at arguments it was given, the engine
// stamps TargetSent when it first sends the request's first byte.
type Exchange struct {
	Request     int    // request number in the session, from 0
	Kind        string // protocol's name for the request (a command, a method); may be ""
	Key         string // endpoint for the report ("GET /users/{id}", "SELECT"); may be ""
	ClientBytes int    // request bytes as captured
	TargetIn    int    // request bytes as sent to the target (after rewriting)
	OnlineBytes int    // online server response bytes
	TargetBytes int    // target response bytes
	Same        bool   // the target answered as the online server did, by the protocol's comparison

	RequestData []byte // the request as captured, possibly cut
	OnlineData  []byte // the online response, possibly cut
	TargetData  []byte // the target response, possibly cut
	Truncated   bool   // some payload was cut to the protocol's bound

	OnlineSent, OnlineFirst, OnlineLast int64 // request's first byte captured; online response's first and last byte captured
	TargetSent, TargetFirst, TargetLast int64 // request's first byte sent; target response's first and last byte received
}

// Protocol is one session's view of an application protocol. The engine
// calls it on the session's worker goroutine only, in stream order, never
// concurrently, and no call may keep a slice it was given. Every call
// carries at, the time (Unix nanoseconds) the bytes were captured or
// received.
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
//     them after what was returned before, through the same offset map.
//   - End reports that a stream ended (FIN or RST seen on it); a protocol
//     whose responses may be delimited by the end of the stream completes
//     them here.
//   - The returned Marks replace the ack-change heuristic for pacing: a
//     request is released when RequestStart is reported for it and the
//     previous request's ResponseComplete has been seen.
//   - After any call, the engine calls Exchange until it returns false to
//     take the finished exchanges, oldest first.
//   - Fate, once non-nil, ends the replay of the session: the engine sends
//     nothing more of it to the target, resets the target's connection and
//     counts the fate's Code.
type Protocol interface {
	Needs() Needs
	Client(out, p []byte, at int64) ([]byte, Mark)
	Online(out, p []byte, at int64) ([]byte, Mark)
	Target(out, p []byte, at int64) ([]byte, Mark)
	End(out []byte, side Side, at int64) ([]byte, Mark)
	Exchange(x *Exchange) bool
	Fate() *Fate
}

// A Pipeliner is a Protocol whose servers answer a connection's requests
// one at a time and in the order they arrive, however closely they follow
// each other (MySQL, Redis). The engine then releases each of its requests
// as the capture delivers it, since the capture already carries the
// client's own waits, instead of after the target's previous answer has
// come back through the gateway: a session keeps its captured rate on a
// path with a longer round trip. Past PipelineDepth requests the target
// has not answered, requests wait for answers as for any protocol.
type Pipeliner interface {
	// Answered counts the session's requests (those reported by
	// RequestStart) whose target response is complete, or that have none.
	Answered() int
}

// PipelineDepth bounds the requests of a Pipeliner's session that the
// engine has sent and the target has not answered.
const PipelineDepth = 64

// New returns the Protocol state of one new session. It may return an
// error for a session it will not replay at all; the engine counts it as
// a fate (a *Fate error keeps its Code, any other error counts as
// "protocol").
type New func(Start) (Protocol, error)

// Options are what a route's configuration asks of its protocol; every
// protocol package's constructor takes them.
type Options struct {
	// Compare: the route is compared. The protocol then reads the online
	// stream too (NeedsOnline) and fills the payload fields of its
	// Exchanges.
	Compare bool
	// Keep bounds the payload kept per side of one Exchange; 0:
	// DefaultKeep. Longer payloads are cut and marked Truncated.
	Keep int
}

// DefaultKeep is the payload kept per side of a compared Exchange.
const DefaultKeep = 64 << 10
