package copier

import (
	"time"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
)

// Fate is how a replayed session ended. Every session gets exactly one.
type Fate uint8

// The fates, in counter order.
const (
	FateReplayed     Fate = iota // clean end: all captured data acked by the target
	FateSampledOut               // not selected by sampling
	FateCaptureGap               // a captured segment stayed missing for GapTimeout
	FateTargetReset              // the target sent RST
	FateTimedOut                 // idle for IdleTimeout, RST sent
	FateNoGateway                // Leases.AddLease found no gateway
	FateSynTimeout               // the handshake did not complete within SynTimeout
	FateBufferLimit              // per-session or global buffer limit hit
	FateRateLimited              // over the new-session rate limit
	FateNoSYN                    // SYN not captured and RequireSYN set
	FateClosed                   // engine shutdown
	FateRetransLimit             // data retransmitted too often without an ack
	FateNoPort                   // no free (address, port) for the copy
	FatePortReused               // the client reused the tuple with a new SYN
	FateLeaseTaken               // a gateway refused the lease: another copier holds the tuple
	FateShed                     // the session table was full: the oldest (half-open first) is shed
	numFates
)

var fateNames = [numFates]string{
	"replayed", "sampled_out", "capture_gap", "target_reset", "timed_out",
	"no_gateway", "syn_timeout", "buffer_limit", "rate_limited", "no_syn",
	"closed", "retransmit_limit", "no_port", "port_reused",
	"lease_taken", "shed",
}

func (f Fate) String() string {
	if f < numFates {
		return fateNames[f]
	}
	return "unknown"
}

// SessionSummary describes one ended session (one copy of a captured
// connection).
type SessionSummary struct {
	Tuple    wire.Tuple // as the target saw it (zero when never started)
	Original wire.Tuple // as captured: client -> online service
	Copy     int        // copy index, 0..Copies-1
	Fate     Fate
	Requests int    // requests released to the target
	Bytes    uint64 // client payload bytes sent (first transmissions)
	// Target response time: from a request's release to the first response
	// byte reported for it.
	Responses                  int
	RespTimeTotal, RespTimeMax time.Duration
	// Online server response time, estimated from the captured client
	// stream: from a request's capture to the client's acknowledgement of
	// the response, less the client's round trip. Shared by the copies of
	// one captured connection.
	OnlineResponses                int
	OnlineRespTotal, OnlineRespMax time.Duration
	// Reestablished counts the new connections to the target opened after
	// the target reset or closed the session's while the client's went on.
	Reestablished int
	Start, End    time.Time
	// Protocol is the session's protocol state (nil for the passthrough),
	// for the figures only it knows (its fate, a MySQL session's user and
	// statements); read it only in the OnSessionEnd call.
	Protocol protocol.Protocol
}
