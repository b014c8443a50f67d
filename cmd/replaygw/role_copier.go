package main

import (
	"log/slog"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/counter"
	"github.com/replaygw/replaygw/ledger"
	"github.com/replaygw/replaygw/metrics"
)

// copierRole is the copier with the things around it that every command
// running one needs: the session ledger and the metrics sources.
type copierRole struct {
	*copier.Copier
	ledger *ledger.Writer
}

// openCopier opens the copier described by cfg.Copy, wiring its session
// summaries into the ledger (if configured) and the latency histogram, and
// its counters into exp.
func openCopier(cfg *configs.Config, exp *metrics.Exporter, log *slog.Logger, opts copier.Options) (*copierRole, error) {
	r := &copierRole{}
	if cfg.Copy.Ledger != "" {
		w, err := ledger.Open(cfg.Copy.Ledger, int64(cfg.Copy.LedgerMaxSize))
		if err != nil {
			return nil, err
		}
		r.ledger = w
		exp.Add(w.Counters()...)
	}
	targetLatency := exp.Histogram("target_response_seconds", "target response time per request (release to first response byte), averaged per session", nil)
	onlineLatency := exp.Histogram("online_response_seconds", "online server response time per request, estimated from the captured client stream (request to the client's ACK of the response, less the client's round trip), averaged per session", nil)
	opts.Logger = log
	opts.OnSessionEnd = func(s copier.SessionSummary) {
		if s.Responses > 0 {
			targetLatency.ObserveDuration(meanResponse(s))
		}
		if s.OnlineResponses > 0 && s.Copy == 0 {
			onlineLatency.ObserveDuration(meanOnline(s))
		}
		if r.ledger != nil {
			r.ledger.Write(&ledger.Entry{
				Start: s.Start, End: s.End,
				Client: s.Tuple.Client.String(), Target: s.Tuple.Target.String(),
				Original: s.Original.String(), Copy: s.Copy, Fate: s.Fate.String(),
				Requests: s.Requests, Responses: s.Responses, BytesSent: s.Bytes,
				OnlineRTT: meanOnline(s), TargetRTT: meanResponse(s), RespTimeMax: s.RespTimeMax,
			})
		}
	}
	c, err := copier.New(cfg.Copy, opts)
	if err != nil {
		if r.ledger != nil {
			r.ledger.Close()
		}
		return nil, err
	}
	r.Copier = c
	exp.Add(c.Engine().Stats().Counters()...)
	if g := c.Gateways(); g != nil {
		exp.Add(g.Stats().Counters()...)
		exp.AddGauge("gateway_client_gateways_connected", "gateways connected and authenticated", func() float64 { return float64(g.Connected()) })
	}
	if l := c.Capture(); l != nil {
		exp.Add(l.Counters()...)
	}
	if s, ok := c.Sender().(interface{ Counters() []counter.Metric }); ok {
		exp.Add(s.Counters()...)
	}
	exp.AddGauge("engine_sessions_open", "sessions open", func() float64 { return float64(c.Engine().Sessions()) })
	exp.AddGauge("engine_buffered_bytes", "captured bytes buffered", func() float64 { return float64(c.Engine().BufferedBytes()) })
	return r, nil
}

func (r *copierRole) Close() error {
	err := r.Copier.Close() // ends sessions: their summaries still reach the ledger
	if r.ledger != nil {
		r.ledger.Close()
	}
	return err
}

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
