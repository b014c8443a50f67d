package copier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Copier is the copier core: the session engine, the sender towards the
// target and the gateway client that brings the target's responses back.
// Packets come from a Source (Run) or from the caller (Engine().HandlePacket*);
// where they come from, and what is recorded or exported, is the role's
// business (package role).
type Copier struct {
	log *slog.Logger
	eng *Engine
	snd Sender
	gw  *GatewayClient

	closers []func() error
}

// SenderConfig says how rewritten packets leave.
type SenderConfig struct {
	Kind       string // "raw" (default, IP_HDRINCL), "tun" or "l2"
	Interface  string // the TUN (tun) or the interface (l2)
	NextHopMAC string // l2: the next hop's MAC; "" = from the neighbour table
}

// Sender kinds.
const (
	SenderRaw = "raw"
	SenderTUN = "tun"
	SenderL2  = "l2"
)

// CopierConfig is everything a Copier is built from.
type CopierConfig struct {
	Engine Config
	Sender SenderConfig
	// Gateways is the gateway client's config; OnRecord and OnRecords are
	// ignored (the records go to the engine).
	Gateways GatewayConfig
}

// Options are the parts of a copier that replace configured ones.
type Options struct {
	Logger *slog.Logger
	// Leases, when set, replaces the gateway client (the appliance hands
	// response records to Engine().HandleRecord in-process and needs no
	// routes).
	Leases Leases
	// Sender, when set, replaces the sender named in the config.
	Sender Sender
}

// Source is where captured client packets come from (a live capture).
// RunFlush calls h for every packet and flush at the end of each burst,
// until ctx ends.
type Source interface {
	RunFlush(ctx context.Context, h func(pkt []byte, ts time.Time), flush func()) error
	// KernelDrops counts the packets the kernel dropped before the source
	// read them.
	KernelDrops() uint64
}

// New opens the sender, the engine and the gateway client. On error
// nothing stays open.
func New(cfg CopierConfig, opts Options) (c *Copier, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c = &Copier{log: log}
	built := c // c is nil once an error is returned
	defer func() {
		if err != nil {
			built.Close()
		}
	}()

	c.snd = opts.Sender
	if c.snd == nil {
		if c.snd, err = NewSender(cfg.Sender, log); err != nil {
			return nil, err
		}
		if cl, ok := c.snd.(interface{ Close() error }); ok {
			c.closers = append(c.closers, cl.Close)
		}
	}

	ecfg := cfg.Engine
	if ecfg.Logger == nil {
		ecfg.Logger = log.With("part", "engine")
	}
	if opts.Leases == nil {
		// The engine hands its own record entry to the gateway client
		// while it is built, before any worker runs.
		gcfg := cfg.Gateways
		if gcfg.Logger == nil {
			gcfg.Logger = log.With("part", "gateway-client")
		}
		ecfg.NewLeases = func(e *Engine) Leases {
			gcfg.OnRecords, gcfg.OnLeaseRefused, gcfg.OnShare = e.HandleRecords, e.HandleLeaseRefused, e.SetShare
			if e.flaggedLeases() {
				// A record that beats its session's lease would reach
				// us cut to the connection's payload cap, which the
				// route's protocol cannot read: lease everything.
				gcfg.ImplicitLeases = false
			}
			c.gw = NewGatewayClient(gcfg)
			c.closers = append(c.closers, c.gw.Close)
			return c.gw
		}
	}
	if c.eng, err = NewEngine(ecfg, c.snd, opts.Leases); err != nil {
		return nil, fmt.Errorf("copier: %w", err)
	}
	if c.gw != nil {
		c.eng.SetShare(c.gw.Share()) // a share that arrived before the engine
	}
	return c, nil
}

// Engine returns the session engine (offline replay and the appliance feed
// it directly).
func (c *Copier) Engine() *Engine { return c.eng }

// Gateways returns the gateway client, nil when Options.Leases replaced it.
func (c *Copier) Gateways() *GatewayClient { return c.gw }

// Sender returns the packet sender.
func (c *Copier) Sender() Sender { return c.snd }

// Run feeds src into the engine until ctx ends (a nil src: it only waits),
// warning while the copier falls behind.
func (c *Copier) Run(ctx context.Context, src Source) error {
	wctx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		c.watchBehind(wctx, src, behindInterval)
	}()
	defer func() {
		stop()
		<-watched
	}()
	if src == nil {
		<-ctx.Done()
		return nil
	}
	err := src.RunFlush(ctx, c.eng.HandlePacketHeld, c.eng.Flush)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Close ends every session (RST to the target) and releases everything.
func (c *Copier) Close() error {
	if c.eng != nil {
		c.eng.Close()
	}
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// NewSender opens the sender cfg names.
func NewSender(cfg SenderConfig, log *slog.Logger) (Sender, error) {
	switch cfg.Kind {
	case "", SenderRaw:
		return NewRawSender(SenderOptions{Logger: log})
	case SenderTUN:
		return NewTUNSender(cfg.Interface, SenderOptions{Logger: log})
	case SenderL2:
		var mac net.HardwareAddr
		if cfg.NextHopMAC != "" {
			m, err := net.ParseMAC(cfg.NextHopMAC)
			if err != nil {
				return nil, fmt.Errorf("copier: copy.next_hop_mac %q: %w", cfg.NextHopMAC, err)
			}
			mac = m
		}
		return NewL2Sender(cfg.Interface, mac, SenderOptions{Logger: log})
	}
	return nil, fmt.Errorf("copier: copy.sender %q: want raw, tun or l2", cfg.Kind)
}
