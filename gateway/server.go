package gateway

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/wire"
)

// ServerConfig configures the control-channel server.
type ServerConfig struct {
	Listen      string        // for ListenAndServe, e.g. ":36524"
	Token       string        // shared secret; required
	PayloadCap  int           // most payload bytes per record (0..1024); copiers may ask for less
	HoldEarly   time.Duration // how long an early SYN-ACK/RST waits for its lease; default 2s, <0 disables
	LeaseTTL    time.Duration // TTL of routes registered without one; default 5m
	CopierQueue int           // per-copier queue in records; default 65536
	RecordFlush time.Duration // most a record waits to share a frame with later ones; default 1ms, <0 sends each at once

	HoldMax          int           // most early records held at once; default 16384
	HandshakeTimeout time.Duration // default 5s
	WriteTimeout     time.Duration // a copier that accepts nothing for this long is dropped; default 10s
	IdleTimeout      time.Duration // a copier silent for this long is dropped; default 60s (copiers ping every 5s)
	Name             string        // announced in the hello; default "gateway"
	MaxPending       int           // connections in the handshake at once (a quarter per source address); beyond, the oldest is closed, counted; default 64
	PoolShares       int           // most copier instances sharing the client pool at once; default 256

	// OnExchange, when set, receives every exchange frame a copier sends
	// (the gateway then announces wire.CapExchange), on that copier's
	// reader goroutine: from is the copier instance. It must not block
	// (a slow sink stalls that copier's leases) nor keep x or its slices
	// past the call.
	OnExchange func(from [16]byte, x *wire.Exchange)

	clock func() int64 // tests: monotonic nanoseconds
}

// Defaults for ServerConfig's zero fields.
const (
	DefaultHoldEarly   = 2 * time.Second
	DefaultLeaseTTL    = 5 * time.Minute
	DefaultCopierQueue = 65536
	DefaultRecordFlush = time.Millisecond
	DefaultHoldMax     = 16384
	DefaultMaxPending  = 64
	DefaultPoolShares  = 256
	MaxPayloadCap      = 1024
)

func (c *ServerConfig) fill() error {
	if c.Token == "" {
		return errors.New("gateway: server: empty token (set gateway.token or gateway.token_file)")
	}
	if c.PayloadCap < 0 || c.PayloadCap > MaxPayloadCap {
		return fmt.Errorf("gateway: server: payload cap %d outside 0..%d", c.PayloadCap, MaxPayloadCap)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HoldEarly, DefaultHoldEarly)
	def(&c.LeaseTTL, DefaultLeaseTTL)
	def(&c.RecordFlush, DefaultRecordFlush)
	def(&c.HandshakeTimeout, 5*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	if c.CopierQueue <= 0 {
		c.CopierQueue = DefaultCopierQueue
	}
	if c.HoldMax == 0 {
		c.HoldMax = DefaultHoldMax
	}
	if c.Name == "" {
		c.Name = "gateway"
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.PoolShares <= 0 {
		c.PoolShares = DefaultPoolShares
	}
	if c.clock == nil {
		epoch := time.Now()
		c.clock = func() int64 { return int64(time.Since(epoch)) }
	}
	return nil
}

// Server is the gateway's control-channel server: copiers authenticate,
// take leases on their sessions' tuples, and receive the response records
// of their sessions.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	st     Stats
	leases *leaseTable

	// implicit: where records nobody leased go (implicit.go); nil: nowhere.
	implicit atomic.Pointer[implicitRoute]

	mu      sync.Mutex
	shares  shareSlots
	lns     map[net.Listener]struct{}
	peers   map[*peer]struct{}
	peerSeq uint64       // connections authenticated so far (peer.seq)
	pending pendingConns // connections still in the handshake
	closed  bool
	wg      sync.WaitGroup
	stop    chan struct{}
}

// NewServer checks cfg and starts the lease sweeper. Serve or
// ListenAndServe accept copiers; Close stops everything.
func NewServer(cfg ServerConfig, log *slog.Logger) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, lns: map[net.Listener]struct{}{}, peers: map[*peer]struct{}{}, pending: newPendingConns(cfg.MaxPending), stop: make(chan struct{})}
	s.shares = newShareSlots(cfg.PoolShares)
	hold := cfg.HoldEarly
	if hold < 0 {
		hold = 0
	}
	s.leases = newLeaseTable(cfg.LeaseTTL, hold, cfg.HoldMax, DefaultHoldBytes, cfg.clock, &s.st)
	s.wg.Add(1)
	go s.sweep(hold, cfg.LeaseTTL)
	return s, nil
}

// sweep expires held records every quarter of the hold time and leases
// every quarter of the default TTL (at most every second: walking a large
// table costs).
func (s *Server) sweep(hold, ttl time.Duration) {
	defer s.wg.Done()
	leaseEvery := max(min(time.Second, ttl/4), 10*time.Millisecond)
	every := leaseEvery
	if hold > 0 {
		every = max(min(every, hold/4), 10*time.Millisecond)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if now.Sub(last) >= leaseEvery {
				s.leases.expire(s.cfg.clock())
				last = now
			} else {
				s.leases.expireHeld(s.cfg.clock())
			}
		}
	}
}

// Stats returns the live counters.
func (s *Server) Stats() *Stats { return &s.st }

// Leases returns the number of leases held.
func (s *Server) Leases() int { return s.leases.len() }

// Deliver hands one response record to the copier that leased its tuple.
// It is the netstack's handler and runs on the TUN reader goroutines: it
// never blocks and does not keep r after returning.
func (s *Server) Deliver(r *wire.Record) {
	s.st.RecordsIn.Add(1)
	now := s.cfg.clock()
	if p, f := s.leases.route(r.Tuple, now); p != nil {
		p.enqueue(r, f)
		return
	}
	if s.routeImplicit(r, now) {
		return
	}
	if isEarly(r) {
		s.leases.holdEarly(r, now)
		return
	}
	s.st.Unrouted.Add(1)
}

// Flush sends the records every copier has queued now instead of after
// the flush delay. The absorber calls it after each drain of a TUN queue
// (absorb.Config.Flush): a drain holds everything that arrived in the last
// tick, so waiting longer would only cost the gateway a timer wake-up.
func (s *Server) Flush() {
	s.mu.Lock()
	for p := range s.peers {
		p.flushNow()
	}
	s.mu.Unlock()
}

// ListenAndServe listens on cfg.Listen and serves until Close.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ln)
}

// Serve accepts copiers on ln until Close (then it returns nil) or an
// accept error. ln is closed on return.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	s.log.Info("control channel listening", "addr", ln.Addr().String())
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("gateway: accept: %w", err)
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		evict, ok := s.pending.admit(nc)
		if !ok {
			s.mu.Unlock()
			s.pendingDropped(nc, "its address holds its share of the handshake slots")
			nc.Close()
			continue
		}
		if evict != nil {
			s.pendingDropped(evict, "the handshake slots are full; the oldest is closed")
			evict.Close()
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

// Addr returns the address of the first listener being served, or nil.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.lns {
		return ln.Addr()
	}
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, tells every copier the gateway is stopping,
// disconnects them and waits for all goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for p := range s.peers {
		p.refuse(wire.CodeShutdown, "gateway shutting down")
	}
	for c := range s.pending.m {
		c.Close()
	}
	close(s.stop)
	s.mu.Unlock()
	all := make(chan struct{})
	go func() { s.wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(time.Second):
		// A writer blocked on a copier that does not read never got to the
		// error frame: cut the connections.
		s.mu.Lock()
		for p := range s.peers {
			p.conn.Close()
		}
		s.mu.Unlock()
		<-all
	}
	return nil
}

// serveConn authenticates one connection and runs its reader.
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	remote := nc.RemoteAddr().String()
	c := wire.NewConn(wire.QuietConn(nc))
	joined := false
	caps := wire.CapPayload | wire.CapLeaseTTL | wire.CapIPv6 | wire.CapLeaseShare | wire.CapLeaseFlags | wire.CapImplicitLeases
	if s.cfg.OnExchange != nil {
		caps |= wire.CapExchange
	}
	hello, share, err := wire.HandshakeShare(c, wire.Hello{
		Role: wire.RoleGateway, Caps: caps,
		PayloadCap: uint16(s.cfg.PayloadCap), Name: s.cfg.Name,
	}, []byte(s.cfg.Token), s.cfg.HandshakeTimeout, func(h wire.Hello) (wire.Share, error) {
		if h.Role != wire.RoleCopier || h.Caps&wire.CapLeaseShare == 0 {
			// Refused below, or a peer that picks no tuples from the pool
			// (doctor's probe): no slot, so the copiers' shares stay.
			return wire.Share{Count: 1}, nil
		}
		return s.joinShare(h.Instance, &joined)
	})
	s.mu.Lock()
	if !s.pending.remove(nc) && err == nil {
		// Evicted for a newcomer as the handshake ended: the connection
		// is closed already.
		err = errors.New("closed for a newer connection: too many handshakes pending")
	}
	s.mu.Unlock()
	if err == nil && hello.Role != wire.RoleCopier {
		c.WriteFrame(wire.TypeError, wire.AppendError(nil, wire.CodeProtocol, "this is a gateway; only copiers may connect"))
		c.Flush()
		err = fmt.Errorf("peer role %q is not a copier", hello.Role)
	}
	if err != nil {
		if joined {
			s.leaveShare(hello.Instance)
		}
		s.handshakeFailed(remote, err)
		nc.Close()
		return
	}
	payloadCap := min(s.cfg.PayloadCap, int(hello.PayloadCap))
	log := s.log.With("copier", hello.Name, "remote", remote)
	p := newPeer(s, c, hello.Instance, payloadCap, log)
	p.share = share
	p.leaseFlags = hello.Caps&wire.CapLeaseFlags != 0
	p.implicit = hello.Caps&wire.CapImplicitLeases != 0 && joined

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if joined {
			s.leaveShare(hello.Instance)
		}
		c.WriteFrame(wire.TypeError, wire.AppendError(nil, wire.CodeShutdown, "gateway shutting down"))
		c.Flush()
		nc.Close()
		return
	}
	s.peerSeq++
	p.seq = s.peerSeq
	s.peers[p] = struct{}{}
	p.setShare(s.shares.share(p.instance)) // the count may have changed since auth-ok
	s.updateImplicit()
	s.mu.Unlock()
	s.st.CopiersConn.Add(1)
	s.st.CopiersTotal.Add(1)
	log.Info("copier connected", "payload_cap", payloadCap, "pool", share.String(), "lease_flags", p.leaseFlags)

	go p.writeLoop()
	rerr := s.readLoop(p)
	var pe *wire.PeerError
	if errors.As(rerr, &pe) {
		s.st.FramesMalformed.Add(1)
		p.refuse(pe.Code, pe.Msg)
		select { // let the writer send the error frame
		case <-p.wrDone:
		case <-time.After(2 * time.Second):
		}
	}
	p.stop()
	nc.Close()
	<-p.wrDone
	if errors.Is(p.wrErr, errStalled) {
		s.st.CopiersStalled.Add(1)
	}
	orphaned := s.leases.removeOwner(p)

	s.mu.Lock()
	delete(s.peers, p)
	s.updateImplicit()
	s.mu.Unlock()
	if joined {
		s.leaveShare(p.instance)
	}
	dec(&s.st.CopiersConn)

	why := rerr
	if p.wrErr != nil {
		why = p.wrErr
	}
	switch {
	case pe != nil:
		log.Warn("copier disconnected: bad control frame", "err", pe.Msg, "leases_removed", orphaned)
	case errors.Is(why, errStalled):
		log.Warn("copier disconnected: it stopped reading", "leases_removed", orphaned)
	case why == nil || errors.Is(why, io.EOF) || errors.Is(why, net.ErrClosed):
		log.Info("copier disconnected", "leases_removed", orphaned)
	default:
		log.Info("copier disconnected", "err", why, "leases_removed", orphaned)
	}
}

// pendingDropped counts a connection closed before its handshake ended
// because too many were pending, and logs the first of every 1024.
func (s *Server) pendingDropped(nc net.Conn, why string) {
	if n := s.st.PendingRefused.Add(1); n%1024 == 1 {
		s.log.Warn("too many control connections in the handshake: closing one", "why", why,
			"max_pending", s.cfg.MaxPending, "remote", nc.RemoteAddr().String(), "closed_so_far", n)
	}
}

func (s *Server) handshakeFailed(remote string, err error) {
	var pe *wire.PeerError
	switch {
	case errors.Is(err, wire.ErrAuth):
		s.st.AuthFailures.Add(1)
		s.log.Warn("copier refused: wrong token (gateway.token must equal copy.token)", "remote", remote)
	case errors.Is(err, wire.ErrVersion):
		s.st.VersionRefused.Add(1)
		s.log.Warn("copier refused: protocol version mismatch (run the same replaygw release on both hosts)", "remote", remote, "err", err)
	case errors.As(err, &pe) && pe.Code == wire.CodeAuth:
		s.st.AuthFailures.Add(1)
		s.log.Warn("copier refused our token (gateway.token must equal copy.token)", "remote", remote)
	case errors.Is(err, errNoShare): // counted by joinShare
		s.log.Warn("copier refused: every client pool share is taken (raise the gateway's pool shares)", "remote", remote, "err", err)
	case errors.As(err, &pe) && pe.Code == wire.CodeVersion:
		s.st.VersionRefused.Add(1)
		s.log.Warn("copier refused our protocol version", "remote", remote, "err", pe.Msg)
	default:
		s.st.HandshakeFailures.Add(1)
		s.log.Info("control connection failed before authentication", "remote", remote, "err", err)
	}
}

// readLoop handles the copier's frames until an error. A malformed or
// unexpected frame is returned as a *wire.PeerError to send back.
func (s *Server) readLoop(p *peer) error {
	nc := p.conn.NetConn()
	var x wire.Exchange
	for {
		nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		t, body, err := p.conn.ReadFrame()
		if err != nil {
			if isProtocolError(err) {
				return &wire.PeerError{Code: wire.CodeProtocol, Msg: err.Error()}
			}
			return err
		}
		switch t {
		case wire.TypeLeaseAdd:
			err = wire.Batch(body, func(_ int, e []byte) (int, error) {
				tu, ttl, f, n, err := p.decodeLeaseAdd(e)
				switch {
				case err != nil:
				case !routable(tu):
					// Well-formed but can never match a response (mixed
					// families, IPv4-mapped, unspecified address, port 0):
					// a copier bug, not worth the channel. Skip and count.
					s.st.RoutesInvalid.Add(1)
					p.log.Debug("ignored a lease that cannot match any response", "tuple", tu)
				case !s.leases.takeFlags(tu, ttl, f, p):
					p.leaseRefused(tu) // counted by take
				case f&wire.LeasePayload != 0:
					s.st.LeasesPayload.Add(1)
				}
				return n, err
			})
		case wire.TypeLeaseRelease:
			err = wire.Batch(body, func(_ int, e []byte) (int, error) {
				tu, n, err := wire.DecodeLeaseRelease(e)
				if err == nil {
					s.leases.release(tu, p)
				}
				return n, err
			})
		case wire.TypeExchange:
			s.exchange(p, body, &x)
		case wire.TypePing:
			select {
			case p.pong <- struct{}{}:
			default:
			}
		case wire.TypePong:
		case wire.TypeError:
			pe := wire.DecodeError(body)
			return fmt.Errorf("copier closed the channel: %s (code %d)", pe.Msg, pe.Code)
		default:
			err = fmt.Errorf("unexpected %s frame from a copier", t)
		}
		if err != nil {
			return &wire.PeerError{Code: wire.CodeProtocol, Msg: fmt.Sprintf("%s frame: %v", t, err)}
		}
	}
}

// exchange hands one exchange frame to OnExchange. A frame that does not
// decode is counted and skipped, not fatal: comparison is a side channel,
// the copier's leases must not pay for a bad exchange.
func (s *Server) exchange(p *peer, body []byte, x *wire.Exchange) {
	if s.cfg.OnExchange == nil {
		s.st.ExchangesIgnored.Add(1)
		return
	}
	if err := wire.DecodeExchange(body, x); err != nil {
		if n := s.st.ExchangesBad.Add(1); n%1024 == 1 {
			p.log.Warn("skipped a malformed exchange frame", "err", err, "so_far", n)
		}
		return
	}
	s.st.ExchangesIn.Add(1)
	s.cfg.OnExchange(p.instance, x)
}

// joinShare gives a copier instance its pool share; joined records that
// the instance holds a slot to leave.
func (s *Server) joinShare(inst [16]byte, joined *bool) (wire.Share, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed, err := s.shares.join(inst)
	if err != nil {
		s.st.SharesRefused.Add(1)
		return wire.Share{}, err
	}
	*joined = true
	if changed {
		s.announceShares()
	}
	return s.shares.share(inst), nil
}

// leaveShare drops one connection of inst from the shares.
func (s *Server) leaveShare(inst [16]byte) {
	s.mu.Lock()
	if s.shares.leave(inst) {
		s.announceShares()
	}
	s.mu.Unlock()
}

// announceShares sends every connected copier its share after the count
// changed. Called with mu held.
func (s *Server) announceShares() {
	for p := range s.peers {
		p.setShare(s.shares.share(p.instance))
	}
	s.updateImplicit()
	s.log.Info("client pool shares changed", "copiers", len(s.shares.byInstance), "shares", s.shares.count())
}

// routable reports whether tu can match the tuple of a response the
// netstack extracts: same family, IPv4 in its 4-byte form, real addresses
// and ports.
func routable(tu wire.Tuple) bool {
	ok := func(ap netip.AddrPort) bool {
		a := ap.Addr()
		return ap.Port() != 0 && !a.IsUnspecified() && !a.Is4In6()
	}
	return tu.Valid() && ok(tu.Client) && ok(tu.Target)
}
