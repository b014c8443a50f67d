package copier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/replaygw/replaygw/capture"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/wire"
)

// Copier is the assembled online-host role: a packet source feeding the
// session engine, a sender towards the target, and the gateway client that
// brings the target's responses back.
type Copier struct {
	cfg  *configs.Copy
	log  *slog.Logger
	eng  *Engine
	snd  Sender
	gw   *GatewayClient
	live *capture.Live
	rec  *capture.Recorder

	closers []func() error
}

// Options are the parts of a copier that are not in the config file.
type Options struct {
	Logger *slog.Logger
	// Router, when set, replaces the gateway client (appliance mode hands
	// response records over in-process and needs no routes).
	Router Router
	// Sender, when set, replaces the sender named in the config.
	Sender Sender
	// NoCapture leaves the live capture closed (offline replay feeds the
	// engine itself through HandlePacket).
	NoCapture bool
	// OnSessionEnd receives each session's summary (ledger, metrics).
	OnSessionEnd func(SessionSummary)
}

// New opens everything the copier needs. On error nothing stays open.
func New(cfg *configs.Copy, opts Options) (c *Copier, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c = &Copier{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	c.snd = opts.Sender
	if c.snd == nil {
		if c.snd, err = newSenderFromConfig(cfg, log); err != nil {
			return nil, err
		}
		if cl, ok := c.snd.(interface{ Close() error }); ok {
			c.closers = append(c.closers, cl.Close)
		}
	}

	router := opts.Router
	var engRef *Engine
	if router == nil {
		c.gw = NewGatewayClient(GatewayConfig{
			Addrs:      cfg.Gateways,
			Token:      cfg.Secret,
			PayloadCap: cfg.PayloadBytes,
			Name:       hostname(),
			Logger:     log.With("part", "gateway-client"),
			OnRecord: func(r *wire.Record) {
				if e := engRef; e != nil {
					e.HandleRecord(r)
				}
			},
			OnLeaseRefused: func(t wire.Tuple) {
				if e := engRef; e != nil {
					e.HandleLeaseRefused(t)
				}
			},
			OnShare: func(s wire.Share) {
				if e := engRef; e != nil {
					e.SetShare(s)
				}
			},
		})
		c.closers = append(c.closers, c.gw.Close)
		router = c.gw
	}

	routes := make([]Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = Route{From: r.FromAddr, To: r.ToAddr}
	}
	c.eng, err = NewEngine(Config{
		Routes:        routes,
		ClientPool:    cfg.ClientPrefix,
		Copies:        cfg.Copies,
		SamplePercent: cfg.SamplePercent,
		RateLimit:     cfg.RateLimit,
		Workers:       cfg.Workers,
		MemoryLimit:   int64(cfg.MemoryLimit),
		SessionBuffer: int64(cfg.SessionBuffer),
		RequireSYN:    cfg.RequireSYN,
		NoPacing:      cfg.NoPacing,
		IdleTimeout:   cfg.IdleTimeout.Duration,
		GapTimeout:    cfg.GapTimeout.Duration,
		SynTimeout:    cfg.SynTimeout.Duration,
		TimeWait:      cfg.TimeWait.Duration,
		MSS:           cfg.MSS,
		OnSessionEnd:  opts.OnSessionEnd,
		Logger:        log.With("part", "engine"),
	}, c.snd, router)
	if err != nil {
		return nil, fmt.Errorf("copier: %w", err)
	}
	engRef = c.eng
	if c.gw != nil {
		c.eng.SetShare(c.gw.Share()) // a share that arrived before the engine
	}

	if cfg.Record != "" {
		if c.rec, err = capture.NewRecorder(cfg.Record); err != nil {
			return nil, fmt.Errorf("copier: record: %w", err)
		}
	}

	if !opts.NoCapture && (cfg.Source == "" || cfg.Source == "live") {
		dst := make([]netip.AddrPort, len(cfg.Routes))
		for i, r := range cfg.Routes {
			dst[i] = r.FromAddr
		}
		c.live, err = capture.OpenLive(capture.LiveConfig{
			Interface: cfg.Interface,
			Fanout:    cfg.Workers,
			Filter:    capture.Filter{Dst: dst},
			Logger:    log.With("part", "capture"),
		})
		if err != nil {
			return nil, fmt.Errorf("copier: capture on %s: %w", cfg.Interface, err)
		}
	}
	return c, nil
}

// Engine returns the session engine (offline replay and appliance mode feed
// it directly).
func (c *Copier) Engine() *Engine { return c.eng }

// Gateways returns the gateway client, nil in appliance mode.
func (c *Copier) Gateways() *GatewayClient { return c.gw }

// Capture returns the live capture, nil when there is none.
func (c *Copier) Capture() *capture.Live { return c.live }

// Sender returns the packet sender.
func (c *Copier) Sender() Sender { return c.snd }

// Input hands one captured packet to the recorder (if any) and the engine.
func (c *Copier) Input(pkt []byte, ts time.Time) {
	if c.rec != nil {
		c.rec.Write(pkt, ts)
	}
	c.eng.HandlePacket(pkt, ts)
}

// inputHeld is Input for the live capture, which calls Engine.Flush at
// the end of each ring block: the workers are woken once per block.
func (c *Copier) inputHeld(pkt []byte, ts time.Time) {
	if c.rec != nil {
		c.rec.Write(pkt, ts)
	}
	c.eng.HandlePacketHeld(pkt, ts)
}

// Run captures until ctx ends, then closes the sessions.
func (c *Copier) Run(ctx context.Context) error {
	wctx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		c.watchBehind(wctx, behindInterval)
	}()
	defer func() {
		stop()
		<-watched
	}()
	if c.live == nil {
		<-ctx.Done()
		return nil
	}
	err := c.live.RunFlush(ctx, c.inputHeld, c.eng.Flush)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Close ends every session (RST to the target) and releases everything.
func (c *Copier) Close() error {
	var errs []error
	if c.live != nil {
		errs = append(errs, c.live.Close())
	}
	if c.eng != nil {
		c.eng.Close()
	}
	if c.rec != nil {
		errs = append(errs, c.rec.Close())
	}
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	c.closers = nil
	return errors.Join(errs...)
}

func hostname() string {
	h, _ := os.Hostname()
	return "copier@" + h
}

// newSenderFromConfig opens the sender the [copy] section names.
func newSenderFromConfig(cfg *configs.Copy, log *slog.Logger) (Sender, error) {
	switch cfg.Sender {
	case "", "raw":
		return NewRawSender(SenderOptions{Logger: log})
	case "tun":
		return NewTUNSender(cfg.SendInterface, SenderOptions{Logger: log})
	case "l2":
		var mac net.HardwareAddr
		if cfg.NextHopMAC != "" {
			m, err := net.ParseMAC(cfg.NextHopMAC)
			if err != nil {
				return nil, fmt.Errorf("copier: copy.next_hop_mac %q: %w", cfg.NextHopMAC, err)
			}
			mac = m
		}
		return NewL2Sender(cfg.SendInterface, mac, SenderOptions{Logger: log})
	}
	return nil, fmt.Errorf("copier: copy.sender %q: want raw, tun or l2", cfg.Sender)
}
