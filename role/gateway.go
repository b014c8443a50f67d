package role

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/replaygw/replaygw/absorb"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/counter"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/tunnel"
	"github.com/replaygw/replaygw/wire"
)

// Gateway is the assembled gateway role: the control-channel server, the
// TUN that the client pools are routed into, and the netstack black hole
// that absorbs everything in it and hands TCP records to their sink.
type Gateway struct {
	log *slog.Logger
	srv *gateway.Server
	ln  net.Listener
	tun *tunnel.Tunnel
	stk *absorb.Stack
	cmp *CompareSink // nil unless [compare] is enabled

	closeOnce sync.Once
	closeErr  error
}

// GatewayOptions are the parts of a gateway that are not in [gateway].
type GatewayOptions struct {
	// Records receives the netstack's records; nil: the copiers connected
	// on the control channel.
	Records absorb.Handler
	// Compare, when enabled, makes the gateway compare the exchanges the
	// copiers send (a CompareSink), its histograms in Metrics.
	Compare *configs.Compare
	Metrics *metrics.Exporter
}

// OpenGateway listens on the control address, opens the TUN with its routes
// and redirect, and attaches the netstack. Records go to sink, or to the
// copiers connected on the control channel when sink is nil. On error
// nothing stays open. Kernel state is created in the network namespace of
// the calling thread.
func OpenGateway(cfg *configs.Gateway, log *slog.Logger, sink absorb.Handler) (*Gateway, error) {
	return OpenGatewayWith(cfg, log, GatewayOptions{Records: sink})
}

// OpenGatewayWith is OpenGateway with the options.
func OpenGatewayWith(cfg *configs.Gateway, log *slog.Logger, opts GatewayOptions) (*Gateway, error) {
	addr := cfg.Listen
	if addr == "" {
		addr = gateway.DefaultListen
	}
	// Listen first: a taken port fails before the kernel is touched.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: gateway.listen %s: %w", addr, err)
	}
	g, err := openGateway(cfg, log, ln, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return g, nil
}

// openGateway assembles a gateway around a listener the caller opened.
func openGateway(cfg *configs.Gateway, log *slog.Logger, ln net.Listener, opts GatewayOptions) (g *Gateway, err error) {
	if log == nil {
		log = slog.Default()
	}
	token := cfg.Secret
	if token == "" {
		token = cfg.Token
	}
	g = &Gateway{log: log, ln: ln}
	built := g // g is nil once an error is returned
	defer func() {
		if err != nil {
			built.teardown()
		}
	}()
	sc := gateway.ServerConfig{
		Listen:      ln.Addr().String(),
		Token:       token,
		PayloadCap:  cfg.PayloadCap,
		HoldEarly:   cfg.HoldEarly.Duration,
		LeaseTTL:    cfg.LeaseTTL.Duration,
		CopierQueue: cfg.CopierQueue,
	}
	if c := opts.Compare; c != nil && c.Enabled {
		if g.cmp, err = OpenCompareSink(c, opts.Metrics, log.With("part", "compare")); err != nil {
			return nil, err
		}
		sc.OnExchange = g.cmp.Exchange
	}
	g.srv, err = gateway.NewServer(sc, log.With("part", "control"))
	if err != nil {
		return nil, err
	}
	sink := opts.Records
	if sink == nil {
		sink = g.srv.Deliver
	}
	g.tun, err = tunnel.Open(tunnel.Config{
		Name:       cfg.TUN,
		Queues:     cfg.Queues,
		MTU:        cfg.MTU,
		TxQueueLen: cfg.TxQueueLen,
		Pools:      cfg.PoolPrefixes,
		Ingress:    cfg.Ingress,
		Redirect:   cfg.Redirect,
		AnswerPing: cfg.AnswerPing,
		Logger:     log.With("part", "tunnel"),
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.stk, err = absorb.New(absorb.Config{
		Queues:     g.tun.Queues(),
		MTU:        cfg.MTU,
		AnswerPing: cfg.AnswerPing,
		Pools:      cfg.PoolPrefixes,
		// Whole segments: leases that ask for them get them (a
		// protocol reading the target's responses); the others are
		// cut to their connection's payload cap by the server.
		PayloadCap: wire.MaxRecordPayload,
		Flush:      g.srv.Flush,
		Logger:     log.With("part", "stack"),
	}, sink)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	log.Info("gateway up", "tun", g.tun.Name(), "queues", len(g.tun.Queues()), "pools", cfg.PoolPrefixes,
		"redirect", g.tun.RedirectMode(), "control", ln.Addr().String(), "payload_cap", cfg.PayloadCap)
	return g, nil
}

// Addr is the control channel's address.
func (g *Gateway) Addr() net.Addr { return g.ln.Addr() }

// Server returns the control-channel server.
func (g *Gateway) Server() *gateway.Server { return g.srv }

// Tunnel returns the TUN and its kernel state.
func (g *Gateway) Tunnel() *tunnel.Tunnel { return g.tun }

// GatewayStats are the counters of the gateway's parts.
type GatewayStats struct {
	Server *gateway.Stats
	Stack  *absorb.Stats
}

// Counters lists every part's counters.
func (s GatewayStats) Counters() []counter.Metric {
	out := s.Server.Counters()
	if s.Stack != nil {
		out = append(out, s.Stack.Counters()...)
	}
	return out
}

// Stats returns the server's live counters and a snapshot of the
// netstack's.
func (g *Gateway) Stats() GatewayStats {
	return GatewayStats{Server: g.srv.Stats(), Stack: g.stk.Stats()}
}

// Counters lists the counters of the gateway's parts, read live: for
// metrics (Stats().Counters() is a snapshot of the netstack's queues).
func (g *Gateway) Counters() []counter.Metric {
	out := append(g.srv.Stats().Counters(), g.stk.Counters()...)
	if g.cmp != nil {
		out = append(out, g.cmp.Stats().Counters()...)
	}
	return out
}

// Compare returns the compare sink, nil unless [compare] is enabled.
func (g *Gateway) Compare() *CompareSink { return g.cmp }

// Run serves copiers until ctx is done (then it returns nil) or the
// listener fails, and tears everything down before returning. Call it from
// the network namespace OpenGateway ran in: teardown removes kernel state.
func (g *Gateway) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- g.srv.Serve(g.ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		if err != nil {
			g.log.Error("control channel failed; stopping", "err", err)
		}
	}
	return errors.Join(err, g.Close())
}

// Close stops the netstack, disconnects the copiers and removes the TUN with
// its routes and redirect. It is safe to call more than once.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.closeErr = g.teardown()
		if g.closeErr == nil {
			g.log.Info("gateway down")
		}
	})
	return g.closeErr
}

func (g *Gateway) teardown() error {
	var errs []error
	if g.stk != nil { // first: no record arrives after this
		errs = append(errs, g.stk.Close())
	}
	if g.srv != nil {
		errs = append(errs, g.srv.Close())
	}
	if g.cmp != nil { // after the server: no exchange arrives after this
		errs = append(errs, g.cmp.Close())
	}
	g.ln.Close()
	if g.tun != nil {
		if err := g.tun.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gateway: remove tunnel: %w", err))
		}
	}
	return errors.Join(errs...)
}
