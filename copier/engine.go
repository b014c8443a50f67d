package copier

// The session engine. Captured client packets enter HandlePacket on the
// capture goroutines, are parsed and matched to a route there, copied into
// a pooled buffer and handed to the worker owning the connection (hash of
// the captured tuple). Each connection becomes Copies sessions, each a
// simulated client TCP towards the target with its own rewritten tuple
// from the allocator, which also maps tuples to workers so that the
// gateways' response records (HandleRecord) reach the owner. A worker owns
// its sessions outright: maps, buffers, a timer wheel and an output buffer,
// no locks on the per-packet path and no allocation in steady state.
//
// Per session (the files are listed in doc.go): the
// client's sequence numbers are kept, the target's ISN is adopted from its
// SYN-ACK and the highest target byte reported is acked; the client's own
// ACKs are never forwarded, the engine generates the ones the target needs
// (after the SYN-ACK, delayed after response data, at once for FINs and
// probes). Connections joined mid-stream get a synthesized SYN (first seq
// - 1, MSS option). Requests are paced on the online ack numbers. Sends
// respect the target's window and MSS (super-packets are cut), lost
// segments are retransmitted with back-off, and every session ends with
// exactly one Fate.

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// ResponseSide says whose response time OnResponse reports.
type ResponseSide uint8

const (
	TargetResponse ResponseSide = iota // the target's, measured
	OnlineResponse                     // the online server's, estimated from the client's ACKs
)

// Sender transmits one complete IP packet (v4 or v6) to the target. It must
// not keep pkt after returning and must be safe for concurrent use by the
// engine's workers. Errors are counted by the engine, never fatal.
type Sender interface{ Send(pkt []byte) error }

// Leases takes a session's lease (its exact tuple, on the gateway(s))
// before its SYN leaves and releases it when the session ends. AddLease
// reports false when no gateway can take it.
type Leases interface {
	AddLease(t wire.Tuple, ttl time.Duration, f LeaseFlags) bool
	ReleaseLease(t wire.Tuple)
}

// LeaseFlags ask the gateway for more than the default records.
type LeaseFlags uint8

const (
	// LeasePayload: the session's protocol reads the target's responses,
	// so its records carry the segment's whole payload.
	LeasePayload LeaseFlags = 1 << iota
)

// Route maps an online service to the target service it is replayed to.
// A From address that is unspecified (0.0.0.0 or ::) matches any address
// with that port. Protocol makes each session's protocol state; nil (or
// protocol/tcp) sends the bytes as captured.
//
// Noise, when valid, is a second target running the same build as the
// online service: every captured connection of the route is also replayed
// to it, as one more session, and its exchanges are marked Noise, so that
// differences between production and that target can be told apart as
// noise.
type Route struct {
	From, To netip.AddrPort
	Protocol protocol.New
	Noise    netip.AddrPort
}

// ExchangeSource says which session an Exchange comes from.
type ExchangeSource struct {
	Route  int            // index in Config.Routes
	Conn   uint64         // the captured connection; all its sessions (copies, noise) share it
	Copy   int            // copy number, from 0
	Noise  bool           // the session goes to the route's Noise target
	Client netip.AddrPort // the real client, as captured
	Target netip.AddrPort // where the session is replayed
}

// Config configures the session engine. Zero values take the defaults
// noted.
type Config struct {
	Routes        []Route
	ClientPool    netip.Prefix // zero: keep the client addresses; other-family sessions end "no_port"
	Copies        int          // sessions per captured connection; default 1
	SamplePercent float64      // share of connections replayed; 0 or >= 100: all
	RateLimit     int          // new sessions per second; 0: unlimited
	Workers       int          // default runtime.NumCPU()
	MemoryLimit   int64        // global buffered payload bytes; default 256 MiB
	SessionBuffer int64        // per-session buffered payload bytes; default 4 MiB
	MaxSessions   int          // live sessions (about 1.3 KB each); over it the oldest, half-open first, are shed; default 65536
	RequireSYN    bool         // refuse connections whose SYN was not captured
	NoPacing      bool         // send requests without waiting for responses
	IdleTimeout   time.Duration
	GapTimeout    time.Duration
	SynTimeout    time.Duration
	TimeWait      time.Duration
	// MSS is the MSS option of synthesized SYNs (mid-stream joins), an
	// IPv4 figure: default 1460 (1500-byte MTU - 20 IPv4 - 20 TCP). IPv6
	// sessions announce MSS - 20 (their IP header is 40 bytes), 1440 by
	// default. A captured SYN's own options are replayed unchanged.
	MSS int

	// Boundary decides whether a captured data segment starts a new
	// request (which then waits for the previous response). prevAck and
	// ack are the online ack numbers of the previous request and of the
	// segment. nil: the ack-change heuristic (ack != prevAck).
	Boundary BoundaryFunc

	Now          func() time.Time     // clock; default time.Now
	OnSessionEnd func(SessionSummary) // optional, called on the worker goroutine

	// OnResponse, optional, is called on the worker goroutine once per
	// response: the target's (request released to its first response
	// byte) and the online server's (estimated from the captured client
	// stream, once per captured connection). It must not block.
	OnResponse func(ResponseSide, time.Duration)

	// OnExchange, optional, receives every finished exchange of a session
	// whose protocol reports them, on the worker goroutine. It must not
	// block nor keep x or its slices past the call.
	OnExchange func(ExchangeSource, *protocol.Exchange)
	Logger     *slog.Logger

	// NewLeases, when NewEngine is given no Leases, builds one around the
	// engine (its HandleRecord, HandleLeaseRefused and SetShare) once the
	// engine can take records and before any worker starts: the gateway
	// client gets its sinks by construction.
	NewLeases func(*Engine) Leases

	// Synchronous runs no goroutines: HandlePacket and HandleRecord work in
	// the caller (serialised per worker) and timers run only when RunTimers
	// is called. For tests and deterministic offline replay.
	Synchronous bool
}

// BoundaryFunc is a pluggable request-boundary detector (a protocol
// parser, for instance). It runs on the worker goroutines and must not
// keep payload.
type BoundaryFunc func(prevAck, ack uint32, payload []byte) bool

// Defaults of the zero Config fields.
const (
	DefaultCopies        = 1
	DefaultSamplePercent = 100
	DefaultIdleTimeout   = 60 * time.Second
	DefaultGapTimeout    = 3 * time.Second
	DefaultSynTimeout    = 6 * time.Second
	DefaultTimeWait      = 60 * time.Second
	DefaultMSS           = 1460
	DefaultMemoryLimit   = 256 << 20
	DefaultSessionBuffer = 4 << 20
	DefaultMaxSessions   = 1 << 16
)

const queueLen = 8192

// Engine is the session engine: it turns captured client packets into
// sessions against the target, one simulated client TCP per session.
type Engine struct {
	cfg    Config
	snd    Sender
	leases Leases
	log    *slog.Logger
	alloc  *allocator
	rate   *tokenBucket
	stats  Stats
	mem    atomic.Int64 // buffered payload bytes, all workers
	closed atomic.Bool

	workers []*worker
	wg      sync.WaitGroup

	leaseTTL time.Duration
	// needs is what each route's protocol reads; online: some route's
	// protocol reads the online server's responses.
	needs  []protocol.Needs
	online bool
}

// NewEngine validates cfg and starts the workers.
func NewEngine(cfg Config, s Sender, r Leases) (*Engine, error) {
	if s == nil || (r == nil && cfg.NewLeases == nil) {
		return nil, errors.New("engine: nil sender or router")
	}
	if len(cfg.Routes) == 0 {
		return nil, errors.New("engine: no routes")
	}
	for i, rt := range cfg.Routes {
		if !rt.From.IsValid() || !rt.To.IsValid() {
			return nil, fmt.Errorf("engine: route %d: invalid address", i)
		}
	}
	setDefault(&cfg.Copies, DefaultCopies)
	setDefault(&cfg.Workers, runtime.NumCPU())
	setDefault(&cfg.MSS, DefaultMSS)
	setDefault(&cfg.MemoryLimit, DefaultMemoryLimit)
	setDefault(&cfg.SessionBuffer, DefaultSessionBuffer)
	setDefault(&cfg.MaxSessions, DefaultMaxSessions)
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&cfg.GapTimeout, DefaultGapTimeout)
	setDefault(&cfg.SynTimeout, DefaultSynTimeout)
	if cfg.TimeWait < 0 {
		cfg.TimeWait = 0
	} else if cfg.TimeWait == 0 {
		cfg.TimeWait = DefaultTimeWait
	}
	if cfg.SamplePercent <= 0 {
		cfg.SamplePercent = DefaultSamplePercent
	}
	if cfg.MSS < 64 || cfg.MSS > 65495 {
		return nil, fmt.Errorf("engine: mss %d out of range", cfg.MSS)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Engine{
		cfg:      cfg,
		snd:      s,
		leases:   r,
		log:      cfg.Logger,
		alloc:    newAllocator(cfg.ClientPool, int64(cfg.TimeWait)),
		rate:     newTokenBucket(cfg.RateLimit),
		leaseTTL: 2*cfg.IdleTimeout + cfg.SynTimeout,
		needs:    routeNeeds(cfg.Routes),
	}
	for _, n := range e.needs {
		e.online = e.online || n&protocol.NeedsOnline != 0
	}
	now := e.now()
	e.workers = make([]*worker, cfg.Workers)
	for i := range e.workers {
		e.workers[i] = newWorker(e, i, now)
	}
	if e.leases == nil {
		e.leases = cfg.NewLeases(e)
	}
	if !cfg.Synchronous {
		for _, w := range e.workers {
			e.wg.Add(1)
			go w.run()
		}
	}
	return e, nil
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

func (e *Engine) now() int64 { return e.cfg.Now().UnixNano() }

// OnlineServices are the routes' online services whose responses the
// capture must include (their protocols read them): the source side of
// the capture filter.
func (e *Engine) OnlineServices() []netip.AddrPort {
	var s []netip.AddrPort
	for i, n := range e.needs {
		if n&protocol.NeedsOnline != 0 {
			s = append(s, e.cfg.Routes[i].From)
		}
	}
	return s
}

// Stats returns the engine's live counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// BufferedBytes is the payload currently held in session buffers.
func (e *Engine) BufferedBytes() int64 { return e.mem.Load() }

// matchRoute returns the index of the route for the online service dst.
func (e *Engine) matchRoute(dst netip.AddrPort) int {
	for i := range e.cfg.Routes {
		f := e.cfg.Routes[i].From
		if f == dst || (f.Port() == dst.Port() && f.Addr().IsUnspecified() && f.Addr().Is4() == dst.Addr().Is4()) {
			return i
		}
	}
	return -1
}

// HandlePacket takes one captured client->online IP packet (v4 or v6,
// possibly a GRO super-packet), or an online->client one for a route whose
// protocol reads the online server's responses (NeedsOnline). Safe for
// concurrent use; pkt is copied.
func (e *Engine) HandlePacket(pkt []byte, ts time.Time) { e.handlePacket(pkt, ts, false, false) }

// HandlePacketHeld is HandlePacket for a caller that will call Flush once
// the packets it has at hand are in (a capture goroutine at the end of a
// ring block): a sleeping worker is woken by Flush, once per burst, not by
// every packet.
//
// When a worker's queue is full it blocks until the worker makes room (the
// capture's kernel ring buffers meanwhile; its drops are counted there),
// counted in CaptureWaits.
func (e *Engine) HandlePacketHeld(pkt []byte, ts time.Time) { e.handlePacket(pkt, ts, true, true) }

// HandlePacketWait is HandlePacket that blocks while the worker's queue is
// full instead of dropping: for sources that can wait, such as a file.
func (e *Engine) HandlePacketWait(pkt []byte, ts time.Time) { e.handlePacket(pkt, ts, false, true) }

// Flush wakes the workers that HandlePacketHeld left sleeping with work.
func (e *Engine) Flush() {
	if e.cfg.Synchronous {
		return
	}
	for _, w := range e.workers {
		w.in.flush()
	}
}

func (e *Engine) handlePacket(pkt []byte, ts time.Time, hold, wait bool) {
	if e.closed.Load() {
		return
	}
	e.stats.PacketsIn.Add(1)
	var m pktMsg
	if !parseCaptured(pkt, &m.p) {
		e.stats.PacketsMalformed.Add(1)
		return
	}
	if m.p.route = e.matchRoute(m.p.orig.Target); m.p.route < 0 && e.online {
		// A response of an online service whose protocol reads them:
		// keyed like its connection's client packets.
		if r := e.matchRoute(m.p.orig.Client); r >= 0 && e.needs[r]&protocol.NeedsOnline != 0 {
			m.p.route, m.p.online = r, true
			m.p.orig.Client, m.p.orig.Target = m.p.orig.Target, m.p.orig.Client
			e.stats.OnlinePacketsIn.Add(1)
		}
	}
	if m.p.route < 0 {
		e.stats.PacketsUnmatched.Add(1)
		return
	}
	if m.p.orig.Client.Addr().Is4() != e.cfg.Routes[m.p.route].To.Addr().Is4() {
		e.stats.PacketsUnmatched.Add(1)
		return
	}
	m.p.ts = ts.UnixNano()
	if m.p.payLen > 0 || m.p.flags&(header.TCPFlagSyn|header.TCPFlagFin|header.TCPFlagRst) != 0 {
		m.buf = getPbuf(pkt)
	}
	w := e.workers[0]
	if len(e.workers) > 1 {
		w = e.workers[hashTuple(shardKey, m.p.orig)%uint64(len(e.workers))]
	}
	if e.cfg.Synchronous {
		w.mu.Lock()
		w.onPacket(&m, e.now())
		w.mu.Unlock()
		return
	}
	ok, waited := w.in.pushPacket(&m, hold, wait)
	if waited {
		e.stats.CaptureWaits.Add(1)
	}
	if !ok {
		e.stats.PacketsQueueDrop.Add(1)
		if m.buf != nil {
			m.buf.unref()
		}
	}
}

// HandleRecord takes one target response fact from a gateway. r is only
// read during the call.
func (e *Engine) HandleRecord(r *wire.Record) { e.handleRecord(r, false) }

// HandleRecords takes the records of one gateway frame, like HandleRecord
// for each, but wakes each parked worker once for all of its records
// instead of once per record. rs is only read during the call.
func (e *Engine) HandleRecords(rs []wire.Record) {
	var held uint64 // workers (by index mod 64) left to wake
	for i := range rs {
		if wi, ok := e.handleRecord(&rs[i], true); ok {
			held |= 1 << (wi % 64)
		}
	}
	for wi, w := range e.workers {
		if held&(1<<(wi%64)) != 0 {
			w.in.flush()
		}
	}
}

// handleRecord hands r to its worker; with hold the wake of a parked
// worker is left to its inbox's flush. It reports the worker queued to.
func (e *Engine) handleRecord(r *wire.Record, hold bool) (int, bool) {
	if e.closed.Load() {
		return 0, false
	}
	e.stats.RecordsIn.Add(1)
	wi, ok := e.alloc.owner(r.Tuple)
	if !ok || wi >= len(e.workers) {
		e.stats.RecordsUnknown.Add(1)
		return 0, false
	}
	w := e.workers[wi]
	if e.cfg.Synchronous {
		w.mu.Lock()
		w.handleRecord(r, e.now())
		w.mu.Unlock()
		return 0, false
	}
	ok, waited := w.in.pushRecord(r, hold)
	if waited {
		e.stats.RecordWaits.Add(1)
	}
	if !ok {
		e.stats.RecordsQueueDrop.Add(1) // the engine is closing
		return 0, false
	}
	return wi, true
}

// RunTimers fires every timer due at now. Only needed (and only allowed)
// with Config.Synchronous; the workers run their own timers otherwise.
func (e *Engine) RunTimers(now time.Time) {
	if !e.cfg.Synchronous {
		return
	}
	for _, w := range e.workers {
		w.mu.Lock()
		w.advance(now.UnixNano())
		w.mu.Unlock()
	}
}

// Close sends RST for every open session, records their fate "closed" and
// stops the workers.
func (e *Engine) Close() {
	if e.closed.Swap(true) {
		return
	}
	if e.cfg.Synchronous {
		for _, w := range e.workers {
			w.mu.Lock()
			w.closeAll(e.now())
			w.mu.Unlock()
		}
		return
	}
	for _, w := range e.workers {
		w.in.close()
		close(w.quit)
	}
	e.wg.Wait()
}

// Sessions returns the number of live sessions (for status pages).
func (e *Engine) Sessions() int {
	st := &e.stats
	return int(st.SessionsStarted.Load() - min(st.SessionsStarted.Load(), st.SessionsEnded.Load()))
}
