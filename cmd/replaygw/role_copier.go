package main

import (
	"log/slog"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
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
		exp.AddCounters("", metrics.FromCounters(w.Counters))
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
	st := c.Engine().Stats()
	// Fates are exported once, as replaygw_engine_sessions_total{fate=...}.
	fates := map[string]bool{}
	st.EachFate(func(f string, _ uint64) { fates["engine_sessions_"+f] = true })
	all := metrics.FromCounters(st.Counters)
	exp.AddCounters("", func(emit func(name, help string, v uint64)) {
		all(func(name, help string, v uint64) {
			if !fates[name] {
				emit(name, help, v)
			}
		})
	})
	exp.AddFates("engine", func(emit func(name, help string, v uint64)) {
		st.EachFate(func(f string, n uint64) { emit(f, "", n) })
	})
	if g := c.Gateways(); g != nil {
		exp.AddCounters("", metrics.FromCounters(g.Stats().Counters))
		exp.AddGauge("gateway_client", "connected", "gateways connected and authenticated", func() float64 { return float64(g.Connected()) })
	}
	if l := c.Capture(); l != nil {
		exp.AddCounters("", metrics.FromCounters(l.Stats().Counters))
	}
	if s, ok := c.Sender().(interface{ Counters() []copier.Counter }); ok {
		exp.AddCounters("", metrics.FromCounters(s.Counters))
	}
	exp.AddGauge("engine", "sessions", "sessions open", func() float64 { return float64(c.Engine().Sessions()) })
	exp.AddGauge("engine", "buffered_bytes", "captured bytes buffered", func() float64 { return float64(c.Engine().BufferedBytes()) })
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
