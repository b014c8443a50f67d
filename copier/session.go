package copier

// A session is one copy of a captured connection: a simulated client TCP
// against the target. Its state is grouped by concern; the functions that
// move it live by direction (client.go, target.go) and phase (lifecycle.go).

import (
	"time"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

const (
	baseRTO         = int64(200 * time.Millisecond) // floor of the retransmission timeout
	initialRTO      = int64(time.Second)            // before any round trip was measured (RFC 6298 2.1)
	maxRTO          = int64(60 * time.Second)
	maxDataRetries  = 6 // gives up 25.4 s after the first send
	minRTT          = int64(time.Millisecond)
	maxDelAck       = int64(40 * time.Millisecond)
	maxResponseWait = int64(5 * time.Second)
	finLinger       = int64(5 * time.Second)
	defaultMSS      = 536
)

type session struct {
	wheelEntry
	grp   *group
	copy  int
	tuple wire.Tuple // as the target sees it
	flow  pkt.Flow   // tuple encoded once for pkt.Build
	v6    bool
	state uint8
	fake  bool // the SYN was synthesized (joined mid-stream)
	ipID  uint16
	ended bool
	noise bool // replayed to the route's Noise target
	// proto is the route's protocol when it needs the streams (nil: the
	// bytes go as captured, the fast path); ps is its streams' state.
	proto protocol.Protocol
	ps    *protoStreams

	snd    sendState
	rcv    recvState
	cap    captured
	pace   pacing
	rtt    rttEstimate
	timers timers
	sum    summary
	reest  reopening
}

// sendState is the client side of the connection, in the client's own
// sequence space.
type sendState struct {
	iss, una, nxt seqnum.Value
	wnd           seqnum.Size // the target's window, scaled
	shift         uint8       // the target's window scale
	mss           int
	advWin        uint16 // the window advertised to the target
	fixedWin      bool   // advWin stays 65535
	finSent       bool
	retries       int // retransmissions of the oldest unacked byte
	dupAcks       int
	synRefused    bool // the target answered a SYN with RST: retried until the SYN deadline
}

// recvState is what the target sent, in its sequence space.
type recvState struct {
	nxt      seqnum.Value
	ackPend  seqnum.Size // bytes received and not acked yet
	ackSegs  int         // segments received and not acked yet
	fin      bool        // the target's FIN arrived
	tsOn     bool
	tsRecent uint32
	tsStart  int64
}

// pacing is the request gate (pacing.go).
type pacing struct {
	lastAck     seqnum.Value // online ack of the last request boundary
	haveLastAck bool
	gatePassed  bool
	gateSeq     seqnum.Value
	held        bool
	respBase    seqnum.Value // rcv.nxt when the current request was released
	reqAt       int64
	lastRespAt  int64
	respFirst   bool
	respDone    bool // the protocol reported the current response complete
	requests    int  // requests released on this connection to the target
}

// rttEstimate is the round-trip estimate (RFC 6298): one segment timed at
// a time, and the retransmission timeout derived from it.
type rttEstimate struct {
	srtt, rttvar int64
	valid        bool
	seq          seqnum.Value // the timed segment ends here ...
	at           int64        // ... and was sent then (0: none timed)
	synRetx      bool         // the SYN was sent more than once (no sample from it)
	synAt        int64        // the (first) SYN went then
	rto          int64
}

// timers are the session's deadlines (unix ns; 0 = off) and activity
// marks; the wheel entry sits at the earliest (reschedule).
type timers struct {
	rtoAt       int64
	synDeadline int64
	ackAt       int64
	paceAt      int64
	gapAt       int64
	persistAt   int64
	persistBack int64
	lingerAt    int64
	lastActive  int64
	routeAt     int64
}

// summary is what the session reports when it ends.
type summary struct {
	start     int64
	requests  int
	bytes     uint64
	responses int
	respTotal int64
	respMax   int64
	// reestablished counts the new connections to the target after it
	// reset or closed the session's (reopen.go).
	reestablished int
}

// reopening is a session between two connections to the target: the
// target reset or closed the last one and the client's connection goes
// on (reopen.go).
type reopening struct {
	cause    Fate         // the fate if the client's connection ends first
	ack      seqnum.Value // the online ack of the last captured data
	openedAt int64        // when the current reopened connection was opened, 0 for the first
	quick    int          // reopened connections in a row the target ended within quickConn
}

func (s *session) tsVal(now int64) uint32 {
	return s.grp.syn.tsVal + uint32((now-s.rcv.tsStart)/int64(time.Millisecond))
}

// acked notes that an ACK of everything received just went out.
func (s *session) acked() {
	s.timers.ackAt, s.rcv.ackPend, s.rcv.ackSegs = 0, 0, 0
}

func (s *session) clientRTT() int64 {
	r := s.grp.rtt
	if r < minRTT {
		r = minRTT
	}
	return r
}
