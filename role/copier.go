package role

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/capture"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/counter"
	"github.com/replaygw/replaygw/ledger"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/protocol"
)

// Copier is the copier core with what every command running one needs
// around it: the live capture (or none), the recorder, the session ledger
// and the metrics sources.
type Copier struct {
	*copier.Copier
	cfg    *configs.Copy
	live   *capture.Live
	rec    *capture.Recorder
	ledger *ledger.Writer
}

// CopierOptions are the parts of a copier that are not in the config.
type CopierOptions struct {
	// Leases replaces the gateway client (the appliance).
	Leases copier.Leases
	// NoCapture leaves the live capture closed (offline replay feeds the
	// engine itself).
	NoCapture bool
	// OnExchange replaces the gateway client as the compared routes'
	// exchange sink (the appliance's own CompareSink).
	OnExchange func(copier.ExchangeSource, *protocol.Exchange)
}

// CopierConfig translates the [copy] section into the copier's own config.
func CopierConfig(cfg *configs.Copy) copier.CopierConfig {
	routes := make([]copier.Route, len(cfg.Routes))
	noise := make([]bool, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = copier.Route{From: r.FromAddr, To: r.ToAddr, Noise: r.NoiseAddr}
		noise[i] = r.NoiseAddr.IsValid()
	}
	return copier.CopierConfig{
		Engine: copier.Config{
			Routes:        routes,
			ClientPool:    cfg.ClientPrefix,
			Copies:        cfg.Copies,
			SamplePercent: cfg.SamplePercent,
			RateLimit:     cfg.RateLimit,
			Workers:       cfg.Workers,
			MemoryLimit:   int64(cfg.MemoryLimit),
			MaxSessions:   cfg.MaxSessions,
			SessionBuffer: int64(cfg.SessionBuffer),
			RequireSYN:    cfg.RequireSYN,
			NoPacing:      cfg.NoPacing,
			IdleTimeout:   cfg.IdleTimeout.Duration,
			GapTimeout:    cfg.GapTimeout.Duration,
			SynTimeout:    cfg.SynTimeout.Duration,
			TimeWait:      cfg.TimeWait.Duration,
			MSS:           cfg.MSS,
		},
		Sender: copier.SenderConfig{Kind: cfg.Sender, Interface: cfg.SendInterface, NextHopMAC: cfg.NextHopMAC},
		Gateways: copier.GatewayConfig{
			Addrs:       cfg.Gateways,
			Token:       cfg.Secret,
			PayloadCap:  cfg.PayloadBytes,
			NoiseRoutes: noise,
			// One copier alone on its gateway leases nothing for plain
			// sessions: no lease frame per session on either host.
			ImplicitLeases: true,
		},
	}
}

// OpenCopier opens the copier described by cfg.Copy, wiring its session
// summaries into the ledger (if configured) and the latency histograms,
// and its counters into exp. On error nothing stays open.
func OpenCopier(cfg *configs.Config, exp *metrics.Exporter, log *slog.Logger, opts CopierOptions) (c *Copier, err error) {
	c = &Copier{cfg: cfg.Copy}
	built := c // c is nil once an error is returned
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	p := cfg.Copy
	if p.Ledger != "" {
		if c.ledger, err = ledger.Open(p.Ledger, int64(p.LedgerMaxSize)); err != nil {
			return nil, err
		}
		exp.Add(c.ledger.Counters()...)
	}
	cc := CopierConfig(p)
	protoCounters, err := setProtocols(cc.Engine.Routes, p)
	if err != nil {
		return nil, err
	}
	exp.Add(protoCounters...)
	cc.Engine.OnSessionEnd = c.sessionEnd()
	cc.Engine.OnResponse = responseHistograms(exp)
	var gw atomic.Pointer[copier.GatewayClient]
	cc.Engine.OnExchange = exchangeSink(p, opts.OnExchange, &gw)
	if c.Copier, err = copier.New(cc, copier.Options{Logger: log, Leases: opts.Leases}); err != nil {
		return nil, err
	}
	gw.Store(c.Gateways())
	if p.Record != "" {
		if c.rec, err = capture.NewRecorder(p.Record); err != nil {
			return nil, fmt.Errorf("copier: record: %w", err)
		}
	}
	if !opts.NoCapture && (p.Source == "" || p.Source == configs.DefaultSource) {
		dst := make([]netip.AddrPort, len(p.Routes))
		for i, r := range p.Routes {
			dst[i] = r.FromAddr
		}
		c.live, err = capture.OpenLive(capture.LiveConfig{
			Interface: p.Interface,
			Fanout:    p.Workers,
			BlockMB:   p.CaptureRingMB,
			Filter:    capture.Filter{Dst: dst, Src: c.Engine().OnlineServices()},
			Logger:    log.With("part", "capture"),
		})
		if err != nil {
			return nil, fmt.Errorf("copier: capture on %s: %w", p.Interface, err)
		}
	}
	c.export(exp)
	return c, nil
}

// responseHistograms returns the engine's per-response sink: one
// observation per request and side.
func responseHistograms(exp *metrics.Exporter) func(copier.ResponseSide, time.Duration) {
	target := exp.Histogram("target_response_seconds", "target response time per request: request released to the target's first response byte", nil)
	online := exp.Histogram("online_response_seconds", "online server response time per request, estimated from the captured client stream (request to the client's ACK of the response, less the client's round trip)", nil)
	return func(side copier.ResponseSide, d time.Duration) {
		if side == copier.OnlineResponse {
			online.ObserveDuration(d)
			return
		}
		target.ObserveDuration(d)
	}
}

// sessionEnd returns the summary sink: the ledger.
func (c *Copier) sessionEnd() func(copier.SessionSummary) {
	return func(s copier.SessionSummary) {
		if c.ledger != nil {
			e := ledger.Entry{
				Start: s.Start, End: s.End,
				Client: s.Tuple.Client.String(), Target: s.Tuple.Target.String(),
				Original: s.Original.String(), Copy: s.Copy, Fate: s.Fate.String(),
				Requests: s.Requests, Responses: s.Responses, BytesSent: s.Bytes,
				OnlineRTT: meanOnline(s), TargetRTT: meanResponse(s), RespTimeMax: s.RespTimeMax,
			}
			protocolFigures(&e, s.Protocol)
			c.ledger.Write(&e)
		}
	}
}

// export adds the copier's counters and gauges to exp.
func (c *Copier) export(exp *metrics.Exporter) {
	eng := c.Engine()
	exp.Add(eng.Stats().Counters()...)
	if g := c.Gateways(); g != nil {
		exp.Add(g.Stats().Counters()...)
		exp.AddGauge("gateway_client_gateways_connected", "gateways connected and authenticated", func() float64 { return float64(g.Connected()) })
	}
	if c.live != nil {
		exp.Add(c.live.Counters()...)
	}
	if s, ok := c.Sender().(interface{ Counters() []counter.Metric }); ok {
		exp.Add(s.Counters()...)
	}
	exp.AddGauge("engine_sessions_open", "sessions open", func() float64 { return float64(eng.Sessions()) })
	exp.AddGauge("engine_buffered_bytes", "captured bytes buffered", func() float64 { return float64(eng.BufferedBytes()) })
}

// Live reports whether the copier captures on an interface.
func (c *Copier) Live() bool { return c.live != nil }

// growableCapture returns the live capture while its ring may still grow
// (a growth opens a packet socket: CAP_NET_RAW), else nil.
func (c *Copier) growableCapture() *capture.Live {
	if c.live != nil && c.live.Growable() {
		return c.live
	}
	return nil
}

// Run captures until ctx ends (without a live capture it only waits).
func (c *Copier) Run(ctx context.Context) error {
	if c.live == nil {
		return c.Copier.Run(ctx, nil)
	}
	return c.Copier.Run(ctx, liveSource{c.live, c.rec})
}

// Close ends the sessions (their summaries still reach the ledger) and
// releases everything.
func (c *Copier) Close() error {
	var errs []error
	if c.live != nil {
		errs = append(errs, c.live.Close())
	}
	if c.Copier != nil {
		errs = append(errs, c.Copier.Close())
	}
	if c.rec != nil {
		errs = append(errs, c.rec.Close())
	}
	if c.ledger != nil {
		c.ledger.Close()
	}
	return errors.Join(errs...)
}

// liveSource is the live capture as the copier's packet source, writing
// every packet to the recorder (if any) on the way.
type liveSource struct {
	live *capture.Live
	rec  *capture.Recorder
}

func (s liveSource) RunFlush(ctx context.Context, h func([]byte, time.Time), flush func()) error {
	if s.rec == nil {
		return s.live.RunFlush(ctx, h, flush)
	}
	return s.live.RunFlush(ctx, func(pkt []byte, ts time.Time) {
		s.rec.Write(pkt, ts)
		h(pkt, ts)
	}, flush)
}

func (s liveSource) KernelDrops() uint64 { return s.live.Stats().KernelDrops.Load() }

// meanOnline is the session's mean online server response time (estimated).
func meanOnline(s copier.SessionSummary) time.Duration {
	if s.OnlineResponses == 0 {
		return 0
	}
	return s.OnlineRespTotal / time.Duration(s.OnlineResponses)
}

// meanResponse is the session's mean target response time.
func meanResponse(s copier.SessionSummary) time.Duration {
	if s.Responses == 0 {
		return 0
	}
	return s.RespTimeTotal / time.Duration(s.Responses)
}
