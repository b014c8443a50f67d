package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/absorb"
	"github.com/replaygw/replaygw/tunnel"
	"github.com/replaygw/replaygw/wire"
)

// DefaultListen is the control channel's address when the config has none.
const DefaultListen = ":36524"

// Gateway is the assembled `replaygw up` role: the control-channel server,
// the TUN that the client pools are routed into, and the netstack black hole
// that absorbs everything in it and hands TCP records to the server.
type Gateway struct {
	log *slog.Logger
	srv *Server
	ln  net.Listener
	tun *tunnel.Tunnel
	stk *absorb.Stack

	// local, when set, takes every record instead of the control channel:
	// appliance mode hands responses to its in-process copier.
	local atomic.Pointer[absorb.Handler]

	closeOnce sync.Once
	closeErr  error
}

// SetLocal sends every record the netstack extracts to h instead of to the
// connected copiers (appliance mode). A nil h restores the control channel.
func (g *Gateway) SetLocal(h absorb.Handler) {
	if h == nil {
		g.local.Store(nil)
		return
	}
	g.local.Store(&h)
}

func (g *Gateway) deliver(r *wire.Record) {
	if h := g.local.Load(); h != nil {
		(*h)(r)
		return
	}
	g.srv.Deliver(r)
}

// NewGateway listens on the control address, opens the TUN with its routes
// and redirect, and attaches the netstack. On error nothing stays open.
// Kernel state is created in the network namespace of the calling thread.
func NewGateway(cfg *configs.Gateway, log *slog.Logger) (*Gateway, error) {
	addr := cfg.Listen
	if addr == "" {
		addr = DefaultListen
	}
	// Listen first: a taken port fails before the kernel is touched.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: gateway.listen %s: %w", addr, err)
	}
	g, err := newGateway(cfg, log, ln)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return g, nil
}

// newGateway assembles a gateway around a listener the caller opened.
func newGateway(cfg *configs.Gateway, log *slog.Logger, ln net.Listener) (g *Gateway, err error) {
	if log == nil {
		log = slog.Default()
	}
	token := cfg.Secret
	if token == "" {
		token = cfg.Token
	}
	g = &Gateway{log: log, ln: ln}
	built := g
	defer func() {
		if err != nil {
			built.teardown()
		}
	}()
	g.srv, err = NewServer(ServerConfig{
		Listen:      ln.Addr().String(),
		Token:       token,
		PayloadCap:  cfg.PayloadCap,
		HoldEarly:   cfg.HoldEarly.Duration,
		RouteTTL:    cfg.RouteTTL.Duration,
		CopierQueue: cfg.CopierQueue,
	}, log.With("part", "control"))
	if err != nil {
		return nil, err
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
		PayloadCap: cfg.PayloadCap,
		Logger:     log.With("part", "stack"),
	}, g.deliver)
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
func (g *Gateway) Server() *Server { return g.srv }

// Tunnel returns the TUN and its kernel state.
func (g *Gateway) Tunnel() *tunnel.Tunnel { return g.tun }

// Stats returns the live counters of the server and the netstack.
func (g *Gateway) Stats() GatewayStats {
	return GatewayStats{Server: g.srv.Stats(), Stack: g.stk.Stats()}
}

// Run serves copiers until ctx is done (then it returns nil) or the
// listener fails, and tears everything down before returning. Call it from
// the network namespace NewGateway ran in: teardown removes kernel state.
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
	g.ln.Close()
	if g.tun != nil {
		if err := g.tun.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gateway: remove tunnel: %w", err))
		}
	}
	return errors.Join(errs...)
}
