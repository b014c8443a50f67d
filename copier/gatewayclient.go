package copier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/wire"
)

// The gateway client: the copier's side of the control channel. It keeps
// one connection per configured gateway, takes a lease on every session's
// exact 4-tuple before the session's SYN leaves (lease-add, renewed while
// the session lives, lease-release at its end), follows the pool share each
// gateway gives this copier instance, and hands the response records the
// gateways stream back to the engine. With implicit leases
// (GatewayConfig.ImplicitLeases) a session without lease flags is only
// remembered while this copier has its single gateway's whole pool, and
// leased when the pool is split.

// GatewayConfig configures the copier's gateway client.
type GatewayConfig struct {
	Addrs      []string // gateway control addresses, host:port
	Token      string   // shared secret
	PayloadCap int      // response payload bytes wanted per record (0..1024)
	Name       string   // announced to the gateways (logs); default copier@hostname
	Logger     *slog.Logger
	// OnRecord receives every response record, on the connection's reader
	// goroutine (one per gateway). r is valid only during the call.
	OnRecord func(r *wire.Record)
	// OnRecords, when set, replaces OnRecord: it receives the records of
	// one frame (up to wire.MaxBatch) in one call, so that the engine wakes
	// a worker once per frame. rs is valid only during the call.
	OnRecords func(rs []wire.Record)
	// OnLeaseRefused receives each tuple a gateway refused because another
	// copier holds it (the client has already forgotten the lease), on the
	// connection's reader goroutine.
	OnLeaseRefused func(t wire.Tuple)
	// OnShare receives the pool share the copier's allocator must pick
	// tuples from, whenever it changes (the share of the first configured
	// gateway that is connected; the whole pool while none is).
	OnShare func(s wire.Share)

	// Tuning; zero values take the defaults in brackets.
	DialTimeout      time.Duration // [5s]
	HandshakeTimeout time.Duration // [5s]
	PingInterval     time.Duration // [5s]
	ReadTimeout      time.Duration // a gateway silent this long is redialed [4 × PingInterval]
	WriteTimeout     time.Duration // [10s]
	MinBackoff       time.Duration // first redial delay [100ms]
	MaxBackoff       time.Duration // longest redial delay [1s]: a restarted gateway is found within about a second
	RefusedBackoff   time.Duration // first delay after a refused token/version [5s], doubling to 12×
	// ExchangeQueue bounds the encoded exchanges waiting for the gateway,
	// in bytes; beyond it SendExchange drops and counts [8 MiB].
	ExchangeQueue int
	// NoiseRoutes[i]: route i also replays to a noise target, so its
	// exchanges are marked for the gateway to wait for their noise twin.
	NoiseRoutes []bool

	// ImplicitLeases: with a single gateway that announces
	// wire.CapImplicitLeases and while this copier has the whole pool,
	// sessions that need no lease flags are not leased: the gateway hands
	// this copier every record nobody leased (no lease frame per session
	// on either host). The live ones are leased at once when the pool is
	// split. New turns it off when a route's sessions take flagged
	// leases: their records must never come before their lease.
	ImplicitLeases bool

	// ReconnectGrace: after the last gateway was lost, leases are still
	// accepted this long and taken on the gateway when it is back, so the
	// sessions that start while a gateway restarts are kept (their SYNs
	// are retransmitted until the SYN-ACK can be absorbed) [10s].
	ReconnectGrace time.Duration
}

func (c *GatewayConfig) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 5*time.Second)
	def(&c.HandshakeTimeout, 5*time.Second)
	def(&c.PingInterval, 5*time.Second)
	def(&c.ReadTimeout, 4*c.PingInterval)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.ReconnectGrace, 10*time.Second)
	def(&c.MaxBackoff, time.Second)
	def(&c.RefusedBackoff, 5*time.Second)
	if c.ExchangeQueue <= 0 {
		c.ExchangeQueue = DefaultExchangeQueue
	}
	c.PayloadCap = min(max(c.PayloadCap, 0), 1024)
	if c.Name == "" {
		h, _ := os.Hostname()
		c.Name = "copier@" + h
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OnRecord == nil {
		c.OnRecord = func(*wire.Record) {}
	}
	if c.OnLeaseRefused == nil {
		c.OnLeaseRefused = func(wire.Tuple) {}
	}
	if c.OnShare == nil {
		c.OnShare = func(wire.Share) {}
	}
}

// GatewayStats counts the gateway client's work.
type GatewayStats struct {
	Connects        atomic.Uint64 // authenticated connections made
	Disconnects     atomic.Uint64 // authenticated connections lost
	DialFailures    atomic.Uint64 // dials or handshakes that failed (refusals excluded)
	AuthRefused     atomic.Uint64 // a gateway and we disagree on the token
	VersionRefused  atomic.Uint64 // a gateway speaks another protocol version
	RoutesSent      atomic.Uint64 // lease-add entries written (per gateway)
	RouteDelsSent   atomic.Uint64 // lease-release entries written (per gateway)
	RoutesOverflow  atomic.Uint64 // a gateway fell so far behind that it was redialed
	LeasesDeferred  atomic.Uint64 // leases taken while no gateway was connected, sent on reconnect
	LeasesRefused   atomic.Uint64 // lease adds a gateway refused: another copier holds the tuple
	LeasesImplicit  atomic.Uint64 // leases not sent: the gateway hands us unleased records while we have the whole pool
	ShareChanges    atomic.Uint64 // pool share changes handed to OnShare
	RecordsReceived atomic.Uint64
	FramesMalformed atomic.Uint64 // bad frames from a gateway (the connection is redialed)
	LeasesPayload   atomic.Uint64 // lease adds asking for whole payloads (per gateway)
	PayloadRefused  atomic.Uint64 // such lease adds sent to a gateway without CapLeaseFlags (plain records)

	ExchangesSent      atomic.Uint64 // exchange frames written
	ExchangesQueueFull atomic.Uint64 // dropped: the exchange queue was full
	ExchangesNoGateway atomic.Uint64 // dropped: no connected gateway compares (or it was lost with them queued)
	ExchangesCut       atomic.Uint64 // exchanges whose payloads were cut to fit a frame
}

var _ Leases = (*GatewayClient)(nil)

// maxPendingOps bounds the lease updates waiting for one gateway; beyond it
// the connection is redialed and the live leases re-registered from memory.
const maxPendingOps = 1 << 18

// releaseBatch is how many pending ops wake the writer when none of them
// is a new lease (releases otherwise go with the next lease or ping).
const releaseBatch = 512

type leaseOp struct {
	t     wire.Tuple
	ttl   time.Duration
	flags wire.LeaseFlags
	del   bool
}

type liveLease struct {
	ttl   time.Duration
	flags wire.LeaseFlags
	until int64 // Unix nanoseconds; 0: until ReleaseLease
	sent  bool  // pushed to the gateways (false: implicit, or taken while none was connected)
}

func (r liveLease) live(now int64) bool { return r.until == 0 || r.until > now }

// wireLeaseFlags translates the engine's lease flags.
func wireLeaseFlags(f LeaseFlags) wire.LeaseFlags {
	var w wire.LeaseFlags
	if f&LeasePayload != 0 {
		w |= wire.LeasePayload
	}
	return w
}

// GatewayClient is the copier's client of the gateways' control channel: it
// keeps a connection to every configured gateway, takes the leases of the
// copier's sessions on all of them (remembering them to take them again
// after a reconnect), reports the pool share and refused leases, and hands
// the gateways' response records to OnRecord. It implements Leases.
type GatewayClient struct {
	cfg      GatewayConfig
	log      *slog.Logger
	st       GatewayStats
	instance [16]byte // this copier process, the same on every gateway

	shareMu sync.Mutex // guards share; OnShare is called under it
	share   wire.Share // last handed to OnShare

	mu     sync.Mutex // guards leases and closed; taken before a link's mu
	leases map[wire.Tuple]liveLease
	closed bool
	links  []*gwLink
	// lostAt is when the last connected gateway was lost (unix ns), 0
	// while one is connected or before any ever was.
	lostAt atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewGatewayClient starts one connect loop per gateway address.
func NewGatewayClient(cfg GatewayConfig) *GatewayClient {
	cfg.fill()
	g := &GatewayClient{cfg: cfg, log: cfg.Logger, leases: make(map[wire.Tuple]liveLease), instance: wire.NewInstance(), share: wire.Share{Count: 1}}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for _, a := range cfg.Addrs {
		l := &gwLink{g: g, addr: a, wake: make(chan struct{}, 1), pong: make(chan struct{}, 1)}
		g.links = append(g.links, l)
	}
	g.wg.Add(len(g.links) + 1)
	for _, l := range g.links {
		go l.run()
	}
	go g.forget()
	return g
}

// AddLease takes the lease on t on every connected gateway (sent within
// about a millisecond, batched with other updates) and remembers it so that
// it is taken again after a reconnect. ttl 0 lets the gateway choose;
// calling it again renews the lease. It never blocks on the network and
// reports false when no gateway is connected. A gateway that finds t held
// by another copier refuses it: OnLeaseRefused. With implicit leases on
// (implicitLink) a lease without flags is only remembered.
func (g *GatewayClient) AddLease(t wire.Tuple, ttl time.Duration, f LeaseFlags) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	wf := wireLeaseFlags(f)
	var until int64
	if ttl > 0 {
		until = time.Now().Add(ttl).UnixNano()
	}
	if prev, ok := g.leases[t]; wf == 0 && !(ok && prev.sent) && g.implicitLink() != nil {
		g.st.LeasesImplicit.Add(1)
		g.leases[t] = liveLease{ttl: ttl, flags: wf, until: until}
		return true
	}
	n := 0
	for _, l := range g.links {
		if l.push(leaseOp{t: t, ttl: ttl, flags: wf}) {
			n++
		}
	}
	if n == 0 {
		// No gateway now: keep the lease for the reconnect if one was
		// lost only a moment ago (a gateway restart), else refuse.
		lost := g.lostAt.Load()
		if lost == 0 || time.Since(time.Unix(0, lost)) > g.cfg.ReconnectGrace {
			return false
		}
		g.st.LeasesDeferred.Add(1)
	}
	g.leases[t] = liveLease{ttl: ttl, flags: wf, until: until, sent: n > 0}
	return true
}

// implicitLink returns the link that takes leases implicitly now, if any
// (GatewayConfig.ImplicitLeases). Called with g.mu held.
func (g *GatewayClient) implicitLink() *gwLink {
	if len(g.links) != 1 || !g.links[0].implicit.Load() || !g.links[0].up.Load() {
		return nil
	}
	return g.links[0]
}

// ReleaseLease ends the lease on t on every connected gateway and forgets it.
func (g *GatewayClient) ReleaseLease(t wire.Tuple) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.leases[t]
	if !ok || g.closed {
		return
	}
	delete(g.leases, t)
	if !r.sent {
		return // never leased on a gateway
	}
	for _, l := range g.links {
		l.push(leaseOp{t: t, del: true})
	}
}

// Connected returns how many gateways are connected and authenticated.
func (g *GatewayClient) Connected() int {
	n := 0
	for _, l := range g.links {
		if l.up.Load() {
			n++
		}
	}
	return n
}

// Share returns the pool share the copier picks tuples from now.
func (g *GatewayClient) Share() wire.Share {
	g.shareMu.Lock()
	defer g.shareMu.Unlock()
	return g.share
}

// updateShare hands OnShare the share of the first connected gateway
// (the whole pool while none is) when it changed.
func (g *GatewayClient) updateShare() {
	g.shareMu.Lock()
	defer g.shareMu.Unlock()
	sh := wire.Share{Count: 1}
	for _, l := range g.links {
		if l.up.Load() {
			sh = l.loadShare()
			break
		}
	}
	if sh.Whole() {
		sh = wire.Share{Count: 1}
	}
	if sh == g.share {
		return
	}
	g.share = sh
	g.st.ShareChanges.Add(1)
	g.log.Info("client pool share", "share", sh.String())
	g.cfg.OnShare(sh)
}

// leaseRefused forgets t (a gateway says another copier holds it) and
// tells OnLeaseRefused once, however many gateways refuse it.
func (g *GatewayClient) leaseRefused(t wire.Tuple) {
	g.st.LeasesRefused.Add(1)
	g.mu.Lock()
	_, known := g.leases[t]
	if known {
		delete(g.leases, t)
		for _, l := range g.links {
			l.push(leaseOp{t: t, del: true}) // the gateways that granted it
		}
	}
	g.mu.Unlock()
	if known {
		g.cfg.OnLeaseRefused(t)
	}
}

// Leases returns the number of live leases remembered.
func (g *GatewayClient) Leases() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.leases)
}

// Stats returns the live counters.
func (g *GatewayClient) Stats() *GatewayStats { return &g.st }

// Close disconnects from every gateway and stops the loops.
func (g *GatewayClient) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	for _, l := range g.links {
		l.closeConn()
	}
	g.wg.Wait()
	return nil
}

// forget drops remembered leases whose TTL ran out without a renewal.
func (g *GatewayClient) forget() {
	defer g.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case now := <-t.C:
			ns := now.UnixNano()
			g.mu.Lock()
			for tu, r := range g.leases {
				if r.until != 0 && r.until < ns {
					delete(g.leases, tu)
				}
			}
			g.mu.Unlock()
		}
	}
}

// gwLink is the connection to one gateway.
type gwLink struct {
	g    *GatewayClient
	addr string
	up   atomic.Bool

	mu    sync.Mutex
	conn  *wire.Conn
	caps  uint32     // the gateway's capabilities on this connection
	share wire.Share // the gateway's share for us on this connection
	// implicit: sessions without lease flags are not leased on this
	// connection (GatewayConfig.ImplicitLeases; written under g.mu and mu).
	implicit atomic.Bool
	ops      []leaseOp // pending lease updates, in order
	spare    []leaseOp
	// leasePending: ops holds a new lease (the writer was woken for it).
	leasePending bool

	exch exchangeQueue // encoded exchange frames (only while up and the gateway compares)

	wake    chan struct{} // cap 1: ops or exchanges are pending
	pong    chan struct{} // cap 1: answer a ping
	lastErr string        // last connect error logged (log changes loudly, repeats quietly)
}

// push queues op if the link is up. Called with g.mu held.
func (l *gwLink) push(op leaseOp) bool {
	l.mu.Lock()
	if !l.up.Load() {
		l.mu.Unlock()
		return false
	}
	if len(l.ops) >= maxPendingOps {
		// The gateway is not keeping up: start over on a new connection,
		// which takes every live lease again.
		l.g.st.RoutesOverflow.Add(1)
		l.up.Store(false)
		l.ops, l.leasePending = l.ops[:0], false
		if l.conn != nil {
			l.conn.Close()
		}
		l.mu.Unlock()
		return false
	}
	l.ops = append(l.ops, op)
	// A new lease wakes the writer (the target's SYN-ACK is on its way);
	// releases wait for the next lease, ping or a full batch: one write
	// then carries both, instead of a wake-up and a write for each.
	wake := (!op.del && !l.leasePending) || len(l.ops) == releaseBatch
	l.leasePending = l.leasePending || !op.del
	l.mu.Unlock()
	if wake {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func (l *gwLink) loadShare() wire.Share {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.share
}

func (l *gwLink) setShare(sh wire.Share) {
	g := l.g
	g.mu.Lock()
	l.mu.Lock()
	l.share = sh
	was := l.implicit.Load()
	now := l.implicitFor(l.caps, sh)
	l.implicit.Store(now)
	n := 0
	if was && !now {
		// The pool was split: lease the live sessions that were implicit,
		// before any newer update (the gateway still hands us their
		// records for wire.ImplicitGrace meanwhile).
		n = l.leaseUnsent(time.Now().UnixNano())
		l.leasePending = l.leasePending || n > 0
		g.log.Info("client pool split: leasing the live sessions", "gateway", l.addr, "leases", n)
	}
	l.mu.Unlock()
	g.mu.Unlock()
	if n > 0 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	g.updateShare()
}

// implicitFor reports whether a connection with the gateway's caps and
// share takes leases implicitly.
func (l *gwLink) implicitFor(caps uint32, sh wire.Share) bool {
	return l.g.cfg.ImplicitLeases && len(l.g.links) == 1 && caps&wire.CapImplicitLeases != 0 && sh.Whole()
}

// leaseUnsent queues lease adds for the live leases never sent and marks
// them sent; it returns how many. Called with g.mu and mu held.
func (l *gwLink) leaseUnsent(now int64) int {
	g, n := l.g, 0
	for tu, r := range g.leases {
		if !r.sent && r.live(now) {
			l.ops = append(l.ops, leaseOp{t: tu, ttl: r.ttl, flags: r.flags})
			r.sent = true
			g.leases[tu] = r
			n++
		}
	}
	return n
}

func (l *gwLink) takeOps() []leaseOp {
	l.mu.Lock()
	ops := l.ops
	l.ops, l.spare = l.spare[:0], nil
	l.leasePending = false
	l.mu.Unlock()
	return ops
}

func (l *gwLink) giveBack(ops []leaseOp) {
	l.mu.Lock()
	if l.spare == nil && cap(ops) <= 4096 {
		l.spare = ops[:0]
	}
	l.mu.Unlock()
}

func (l *gwLink) closeConn() {
	l.mu.Lock()
	if l.conn != nil {
		l.conn.Close()
	}
	l.mu.Unlock()
}

// run connects, serves and redials with back-off until Close.
func (l *gwLink) run() {
	g := l.g
	defer g.wg.Done()
	backoff := g.cfg.MinBackoff
	refusedBackoff := g.cfg.RefusedBackoff
	for {
		start := time.Now()
		refused, wasUp := l.session()
		if g.ctx.Err() != nil {
			return
		}
		var d time.Duration
		switch {
		case refused:
			d = refusedBackoff
			refusedBackoff = min(2*refusedBackoff, 12*g.cfg.RefusedBackoff)
		case wasUp && time.Since(start) > g.cfg.MaxBackoff:
			backoff = g.cfg.MinBackoff // a connection that lasted starts over
			d = backoff
		default:
			d = backoff
			backoff = min(2*backoff, g.cfg.MaxBackoff)
		}
		if !refused {
			refusedBackoff = g.cfg.RefusedBackoff
		}
		d = d/2 + rand.N(d/2+1) // jitter: copiers restarted together do not redial together
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// session runs one connection: dial, authenticate, take the live leases
// again, then read until it fails.
func (l *gwLink) session() (refused, wasUp bool) {
	g := l.g
	d := net.Dialer{Timeout: g.cfg.DialTimeout, KeepAlive: 15 * time.Second}
	nc, err := d.DialContext(g.ctx, "tcp", l.addr)
	if err != nil {
		if g.ctx.Err() == nil {
			g.st.DialFailures.Add(1)
			l.logFailure(slog.LevelWarn, "gateway unreachable", err)
		}
		return false, false
	}
	c := wire.NewConn(wire.QuietConn(nc))
	l.mu.Lock()
	l.conn = c
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.conn = nil
		l.mu.Unlock()
		c.Close()
	}()
	if g.ctx.Err() != nil {
		return false, false
	}
	hello, share, err := wire.HandshakeShare(c, wire.Hello{
		Role: wire.RoleCopier, Caps: g.caps(),
		PayloadCap: uint16(g.cfg.PayloadCap), Instance: g.instance, Name: g.cfg.Name,
	}, []byte(g.cfg.Token), g.cfg.HandshakeTimeout, nil)
	if err != nil {
		return l.handshakeFailed(err), false
	}

	// Up: take every live lease again before any newer update (those
	// without flags only if leases are explicit on this connection).
	now := time.Now().UnixNano()
	implicit := l.implicitFor(hello.Caps, share)
	g.mu.Lock()
	l.mu.Lock()
	l.ops, l.leasePending = l.ops[:0], false
	for tu, r := range g.leases {
		if !r.live(now) {
			continue
		}
		r.sent = !implicit || r.flags != 0
		g.leases[tu] = r
		if r.sent {
			l.ops = append(l.ops, leaseOp{t: tu, ttl: r.ttl, flags: r.flags})
		}
	}
	l.implicit.Store(implicit)
	restored := len(l.ops)
	l.share = share
	l.caps = hello.Caps
	l.exch.open(g.cfg.ExchangeQueue, hello.Caps&wire.CapExchange != 0)
	l.up.Store(true)
	g.lostAt.Store(0)
	l.mu.Unlock()
	g.mu.Unlock()
	g.updateShare()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	g.st.Connects.Add(1)
	l.lastErr = ""
	g.log.Info("connected to gateway", "gateway", l.addr, "name", hello.Name,
		"payload_cap", min(g.cfg.PayloadCap, int(hello.PayloadCap)), "leases_restored", restored, "pool", share.String(),
		"lease_flags", hello.Caps&wire.CapLeaseFlags != 0, "compares", hello.Caps&wire.CapExchange != 0)

	done := make(chan struct{})
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		l.writeLoop(c, done)
	}()
	err = l.readLoop(c)

	g.mu.Lock()
	l.mu.Lock()
	l.up.Store(false)
	l.implicit.Store(false)
	l.ops, l.leasePending = l.ops[:0], false
	l.mu.Unlock()
	g.mu.Unlock()
	g.st.ExchangesNoGateway.Add(uint64(l.exch.close()))
	if g.Connected() == 0 {
		g.lostAt.Store(time.Now().UnixNano())
	}
	g.updateShare()
	close(done)
	c.Close()
	<-wdone
	g.st.Disconnects.Add(1)
	if g.ctx.Err() == nil {
		g.log.Warn("lost gateway; redialing", "gateway", l.addr, "err", err)
	}
	return false, true
}

// caps are the capabilities this copier announces.
func (g *GatewayClient) caps() uint32 {
	c := wire.CapPayload | wire.CapLeaseTTL | wire.CapIPv6 | wire.CapLeaseShare | wire.CapLeaseFlags | wire.CapExchange
	if g.cfg.ImplicitLeases && len(g.links) == 1 {
		c |= wire.CapImplicitLeases // with several gateways every lease is explicit
	}
	return c
}

// handshakeFailed counts and logs a failed handshake; it reports whether
// the gateway refused us (token or version), which redials slowly.
func (l *gwLink) handshakeFailed(err error) bool {
	g := l.g
	if g.ctx.Err() != nil {
		return false
	}
	var pe *wire.PeerError
	isPE := errors.As(err, &pe)
	switch {
	case errors.Is(err, wire.ErrAuth) || isPE && pe.Code == wire.CodeAuth:
		g.st.AuthRefused.Add(1)
		l.logFailure(slog.LevelError, "gateway refused: token mismatch (copy.token must equal the gateway's token); retrying slowly", err)
		return true
	case isPE && pe.Code == wire.CodeBusy:
		l.logFailure(slog.LevelError, "gateway refused: it has no pool share left for another copier; retrying", err)
		g.st.DialFailures.Add(1)
		return false
	case errors.Is(err, wire.ErrVersion) || isPE && pe.Code == wire.CodeVersion:
		g.st.VersionRefused.Add(1)
		l.logFailure(slog.LevelError, "gateway refused: protocol version mismatch (run the same replaygw release on both hosts); retrying slowly", err)
		return true
	}
	g.st.DialFailures.Add(1)
	l.logFailure(slog.LevelWarn, "gateway handshake failed", err)
	return false
}

// logFailure logs a connect failure at level the first time it appears and
// at debug level while it repeats.
func (l *gwLink) logFailure(level slog.Level, msg string, err error) {
	if s := err.Error(); s == l.lastErr {
		level = slog.LevelDebug
	} else {
		l.lastErr = s
	}
	l.g.log.Log(context.Background(), level, msg, "gateway", l.addr, "err", err)
}

// readLoop hands records to OnRecord (or OnRecords) and answers pings
// until the connection fails or a frame is malformed.
func (l *gwLink) readLoop(c *wire.Conn) error {
	g := l.g
	var rec wire.Record
	var recs []wire.Record // one frame's records for OnRecords
	got := 0
	each := func(_ int, e []byte) (int, error) {
		n, err := wire.DecodeRecord(e, &rec)
		if err != nil {
			return 0, err
		}
		got++
		if rec.Flags == leaseRefusedNote {
			return n, nil // no TCP segment has no flags; never taken for a refusal note
		}
		if g.cfg.OnRecords != nil {
			recs = append(recs, rec)
		} else {
			g.cfg.OnRecord(&rec)
		}
		return n, nil
	}
	nc := c.NetConn()
	for {
		nc.SetReadDeadline(time.Now().Add(g.cfg.ReadTimeout))
		t, body, err := c.ReadFrame()
		if err != nil {
			if errors.Is(err, wire.ErrFrameTooLarge) {
				g.st.FramesMalformed.Add(1)
			}
			return fmt.Errorf("copier: read from gateway: %w", err)
		}
		switch t {
		case wire.TypeRecords:
			got, recs = 0, recs[:0]
			err := wire.Batch(body, each)
			g.st.RecordsReceived.Add(uint64(got))
			if len(recs) > 0 {
				g.cfg.OnRecords(recs)
			}
			if err != nil {
				g.st.FramesMalformed.Add(1)
				return fmt.Errorf("copier: malformed records frame from gateway: %w", err)
			}
		case wire.TypeLeaseRefused:
			err := wire.Batch(body, func(_ int, e []byte) (int, error) {
				t, n, err := wire.DecodeLeaseRefused(e)
				if err == nil {
					g.leaseRefused(t)
				}
				return n, err
			})
			if err != nil {
				g.st.FramesMalformed.Add(1)
				return fmt.Errorf("copier: malformed lease-refused frame from gateway: %w", err)
			}
		case wire.TypeShare:
			sh, err := wire.DecodeShare(body)
			if err != nil {
				g.st.FramesMalformed.Add(1)
				return fmt.Errorf("copier: malformed share frame from gateway: %w", err)
			}
			l.setShare(sh)
		case wire.TypePing:
			select {
			case l.pong <- struct{}{}:
			default:
			}
		case wire.TypePong:
		case wire.TypeError:
			pe := wire.DecodeError(body)
			if pe.Code == wire.CodeShutdown {
				return errors.New("copier: the gateway is shutting down")
			}
			return fmt.Errorf("copier: gateway closed the channel: %w", pe)
		default:
			g.st.FramesMalformed.Add(1)
			return fmt.Errorf("copier: unexpected %s frame from gateway", t)
		}
	}
}

// writeLoop sends lease updates in batches, and pings. It owns the write
// side of c.
func (l *gwLink) writeLoop(c *wire.Conn, done <-chan struct{}) {
	g := l.g
	tick := time.NewTicker(g.cfg.PingInterval)
	defer tick.Stop()
	var buf []byte
	fail := func(err error) {
		g.log.Debug("write to gateway failed", "gateway", l.addr, "err", err)
		c.Close() // ends the reader too
	}
	for {
		select {
		case <-done:
			return
		case <-l.pong:
			c.NetConn().SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
			if err := writeFlush(c, wire.TypePong); err != nil {
				fail(err)
				return
			}
			continue
		case <-tick.C:
			c.NetConn().SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
			if err := writeFlush(c, wire.TypePing); err != nil {
				fail(err)
				return
			}
			// and the releases waiting for a lease to go with
		case <-l.wake:
		}
		for {
			ops := l.takeOps()
			if len(ops) == 0 {
				break
			}
			c.NetConn().SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
			var err error
			buf, err = l.writeOps(c, ops, buf)
			l.giveBack(ops)
			if err != nil {
				fail(err)
				return
			}
		}
		if err := l.writeExchanges(c); err != nil {
			fail(err)
			return
		}
		if err := c.Flush(); err != nil {
			fail(err)
			return
		}
	}
}

// writeOps writes ops as lease-add and lease-release frames, keeping their
// order: a run of one kind becomes one frame of up to wire.MaxBatch entries.
func (l *gwLink) writeOps(c *wire.Conn, ops []leaseOp, buf []byte) ([]byte, error) {
	st := &l.g.st
	l.mu.Lock()
	flagged := l.caps&wire.CapLeaseFlags != 0
	l.mu.Unlock()
	for len(ops) > 0 {
		del := ops[0].del
		buf = wire.BeginBatch(buf)
		n := 0
		for n < len(ops) && n < wire.MaxBatch && ops[n].del == del {
			op := &ops[n]
			switch {
			case del:
				buf = wire.AppendTuple(buf, op.t)
			case flagged:
				buf = wire.AppendLeaseAddFlags(buf, op.t, op.ttl, op.flags)
				if op.flags&wire.LeasePayload != 0 {
					st.LeasesPayload.Add(1)
				}
			default:
				// An older gateway: the lease gets its plain records.
				buf = wire.AppendLeaseAdd(buf, op.t, op.ttl)
				if op.flags&wire.LeasePayload != 0 {
					st.PayloadRefused.Add(1)
				}
			}
			n++
		}
		typ := wire.TypeLeaseAdd
		if del {
			typ = wire.TypeLeaseRelease
		}
		if err := c.WriteFrame(typ, wire.EndBatch(buf, n)); err != nil {
			return buf, err
		}
		if del {
			st.RouteDelsSent.Add(uint64(n))
		} else {
			st.RoutesSent.Add(uint64(n))
		}
		ops = ops[n:]
	}
	return buf, nil
}

func writeFlush(c *wire.Conn, t wire.Type) error {
	if err := c.WriteFrame(t, nil); err != nil {
		return err
	}
	return c.Flush()
}
