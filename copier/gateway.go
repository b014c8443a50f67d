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

	// Tuning; zero values take the defaults in brackets.
	DialTimeout      time.Duration // [5s]
	HandshakeTimeout time.Duration // [5s]
	PingInterval     time.Duration // [5s]
	ReadTimeout      time.Duration // a gateway silent this long is redialed [4 × PingInterval]
	WriteTimeout     time.Duration // [10s]
	MinBackoff       time.Duration // first redial delay [100ms]
	MaxBackoff       time.Duration // [5s]
	RefusedBackoff   time.Duration // first delay after a refused token/version [5s], doubling to 12×
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
	def(&c.MaxBackoff, 5*time.Second)
	def(&c.RefusedBackoff, 5*time.Second)
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
}

// GatewayStats counts the gateway client's work.
type GatewayStats struct {
	Connects        atomic.Uint64 // authenticated connections made
	Disconnects     atomic.Uint64 // authenticated connections lost
	DialFailures    atomic.Uint64 // dials or handshakes that failed (refusals excluded)
	AuthRefused     atomic.Uint64 // a gateway and we disagree on the token
	VersionRefused  atomic.Uint64 // a gateway speaks another protocol version
	RoutesSent      atomic.Uint64 // route-add entries written (per gateway)
	RouteDelsSent   atomic.Uint64 // route-del entries written (per gateway)
	RoutesOverflow  atomic.Uint64 // a gateway fell so far behind that it was redialed
	RecordsReceived atomic.Uint64
	FramesMalformed atomic.Uint64 // bad frames from a gateway (the connection is redialed)
}

var _ Router = (*GatewayClient)(nil)

// maxPendingOps bounds the route updates waiting for one gateway; beyond it
// the connection is redialed and the live routes re-registered from memory.
const maxPendingOps = 1 << 18

type routeOp struct {
	t   wire.Tuple
	ttl time.Duration
	del bool
}

type liveRoute struct {
	ttl   time.Duration
	until int64 // Unix nanoseconds; 0: until DelRoute
}

// GatewayClient keeps a connection to every configured gateway, registers
// the copier's routes on all of them and hands their response records to
// OnRecord. It implements Router.
type GatewayClient struct {
	cfg GatewayConfig
	log *slog.Logger
	st  GatewayStats

	mu     sync.Mutex // guards routes and closed; taken before a link's mu
	routes map[wire.Tuple]liveRoute
	closed bool
	links  []*gwLink

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewGatewayClient starts one connect loop per gateway address.
func NewGatewayClient(cfg GatewayConfig) *GatewayClient {
	cfg.fill()
	g := &GatewayClient{cfg: cfg, log: cfg.Logger, routes: make(map[wire.Tuple]liveRoute)}
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

// AddRoute registers t on every connected gateway (sent within about a
// millisecond, batched with other updates) and remembers it so that it is
// registered again after a reconnect. ttl 0 lets the gateway choose. It
// never blocks on the network and reports false when no gateway is
// connected.
func (g *GatewayClient) AddRoute(t wire.Tuple, ttl time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	n := 0
	for _, l := range g.links {
		if l.push(routeOp{t: t, ttl: ttl}) {
			n++
		}
	}
	if n == 0 {
		return false
	}
	var until int64
	if ttl > 0 {
		until = time.Now().Add(ttl).UnixNano()
	}
	g.routes[t] = liveRoute{ttl: ttl, until: until}
	return true
}

// DelRoute removes t from every connected gateway and from memory.
func (g *GatewayClient) DelRoute(t wire.Tuple) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.routes[t]; !ok || g.closed {
		return
	}
	delete(g.routes, t)
	for _, l := range g.links {
		l.push(routeOp{t: t, del: true})
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

// Routes returns the number of live routes remembered.
func (g *GatewayClient) Routes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.routes)
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

// forget drops remembered routes whose TTL ran out without a re-add.
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
			for tu, r := range g.routes {
				if r.until != 0 && r.until < ns {
					delete(g.routes, tu)
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
	ops   []routeOp // pending route updates, in order
	spare []routeOp

	wake    chan struct{} // cap 1: ops are pending
	pong    chan struct{} // cap 1: answer a ping
	lastErr string        // last connect error logged (log changes loudly, repeats quietly)
}

// push queues op if the link is up. Called with g.mu held.
func (l *gwLink) push(op routeOp) bool {
	l.mu.Lock()
	if !l.up.Load() {
		l.mu.Unlock()
		return false
	}
	if len(l.ops) >= maxPendingOps {
		// The gateway is not keeping up: start over on a new connection,
		// which re-registers every live route.
		l.g.st.RoutesOverflow.Add(1)
		l.up.Store(false)
		l.ops = l.ops[:0]
		if l.conn != nil {
			l.conn.Close()
		}
		l.mu.Unlock()
		return false
	}
	l.ops = append(l.ops, op)
	first := len(l.ops) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func (l *gwLink) takeOps() []routeOp {
	l.mu.Lock()
	ops := l.ops
	l.ops, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	return ops
}

func (l *gwLink) giveBack(ops []routeOp) {
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

// session runs one connection: dial, authenticate, register the live
// routes, then read until it fails.
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
	c := wire.NewConn(nc)
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
	hello, err := wire.Handshake(c, wire.Hello{
		Role: wire.RoleCopier, Caps: wire.CapPayload | wire.CapRouteTTL | wire.CapIPv6,
		PayloadCap: uint16(g.cfg.PayloadCap), Name: g.cfg.Name,
	}, []byte(g.cfg.Token), g.cfg.HandshakeTimeout)
	if err != nil {
		return l.handshakeFailed(err), false
	}

	// Up: re-register every live route before any newer update.
	now := time.Now().UnixNano()
	g.mu.Lock()
	l.mu.Lock()
	l.ops = l.ops[:0]
	for tu, r := range g.routes {
		if r.until == 0 || r.until > now {
			l.ops = append(l.ops, routeOp{t: tu, ttl: r.ttl})
		}
	}
	restored := len(l.ops)
	l.up.Store(true)
	l.mu.Unlock()
	g.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	g.st.Connects.Add(1)
	l.lastErr = ""
	g.log.Info("connected to gateway", "gateway", l.addr, "name", hello.Name,
		"payload_cap", min(g.cfg.PayloadCap, int(hello.PayloadCap)), "routes_restored", restored)

	done := make(chan struct{})
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		l.writeLoop(c, done)
	}()
	err = l.readLoop(c)

	l.mu.Lock()
	l.up.Store(false)
	l.ops = l.ops[:0]
	l.mu.Unlock()
	close(done)
	c.Close()
	<-wdone
	g.st.Disconnects.Add(1)
	if g.ctx.Err() == nil {
		g.log.Warn("lost gateway; redialing", "gateway", l.addr, "err", err)
	}
	return false, true
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

// readLoop hands records to OnRecord and answers pings until the
// connection fails or a frame is malformed.
func (l *gwLink) readLoop(c *wire.Conn) error {
	g := l.g
	var rec wire.Record
	got := 0
	each := func(_ int, e []byte) (int, error) {
		n, err := wire.DecodeRecord(e, &rec)
		if err != nil {
			return 0, err
		}
		got++
		g.cfg.OnRecord(&rec)
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
			got = 0
			err := wire.Batch(body, each)
			g.st.RecordsReceived.Add(uint64(got))
			if err != nil {
				g.st.FramesMalformed.Add(1)
				return fmt.Errorf("copier: malformed records frame from gateway: %w", err)
			}
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

// writeLoop sends route updates in batches, and pings. It owns the write
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
			continue
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
		if err := c.Flush(); err != nil {
			fail(err)
			return
		}
	}
}

// writeOps writes ops as route-add and route-del frames, keeping their
// order: a run of one kind becomes one frame of up to wire.MaxBatch entries.
func (l *gwLink) writeOps(c *wire.Conn, ops []routeOp, buf []byte) ([]byte, error) {
	st := &l.g.st
	for len(ops) > 0 {
		del := ops[0].del
		buf = wire.BeginBatch(buf)
		n := 0
		for n < len(ops) && n < wire.MaxBatch && ops[n].del == del {
			if del {
				buf = wire.AppendTuple(buf, ops[n].t)
			} else {
				buf = wire.AppendRouteAdd(buf, ops[n].t, ops[n].ttl)
			}
			n++
		}
		typ := wire.TypeRouteAdd
		if del {
			typ = wire.TypeRouteDel
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
