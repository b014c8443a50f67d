package role

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/httpframe"
	"github.com/replaygw/replaygw/compare/resp"
	"github.com/replaygw/replaygw/compare/store"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
)

// The compare sink: the gateway's (or the appliance's) end of the
// exchange transport. Data flow:
//
//	gateway reader (exchange frame) --+
//	                                  +-> Exchange: copy, bounded queue (full: dropped, counted)
//	engine worker (appliance) --------+        |
//	                                           v  one worker goroutine
//	                       diff by protocol (http, redis, mysql, else bytes)
//	                       noise twin? wait for it (by copier, conn, request), Classify
//	                                           v
//	                       compare/store (results, examples, counts) + metrics
//
// Exchange never blocks: it is called on the gateway's reader goroutine of
// a copier (whose leases would wait) or on an engine worker.

// Bounds of the compare sink besides [compare]'s.
const (
	// compareQueueBytes bounds the payload bytes waiting in the queue.
	compareQueueBytes = 64 << 20
	// pairWait is how long an exchange of a route with a noise target
	// waits for its noise twin (and a noise diff for later copies).
	pairWait = 5 * time.Second
	// maxPairs bounds the connections-and-requests waiting for a twin.
	maxPairs = 1 << 16
	// maxWaiting bounds the copies of one request waiting for the twin.
	maxWaiting = 16
)

// CompareSink diffs exchanges and keeps the results in a compare store.
type CompareSink struct {
	log  *slog.Logger
	dir  string
	w    *store.Writer
	http *compare.HTTP
	keep int
	ex   bool // keep payload examples

	q      chan compareJob
	queued atomic.Int64 // payload bytes in q
	st     gateway.CompareStats
	online *metrics.Histogram // nil without an exporter
	target *metrics.Histogram

	closeMu sync.RWMutex // Exchange holds it shared; Close exclusively
	closed  bool
	done    chan struct{}

	// Owned by the worker.
	pairs map[pairKey]*pairEntry
}

type compareJob struct {
	from [16]byte
	x    wire.Exchange // payloads owned
	size int64
}

// pairKey names one request of one captured connection of one copier.
type pairKey struct {
	from    [16]byte
	route   uint16
	conn    uint64
	request uint32
}

// pairEntry is a request waiting for its noise twin, or the twin's diff
// waiting for later copies.
type pairEntry struct {
	noise   *compare.Diff
	waiting []store.Result
	at      time.Time
}

// OpenCompareSink opens the store of one run under cfg.Store (a new
// directory named by the start time) and starts the worker. exp, when
// set, gets the latency histograms; the counters are in Counters.
func OpenCompareSink(cfg *configs.Compare, exp *metrics.Exporter, log *slog.Logger) (*CompareSink, error) {
	if log == nil {
		log = slog.Default()
	}
	h, err := compare.NewHTTP(cfg.HTTPRules())
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	dir, err := runDir(cfg.Store, time.Now())
	if err != nil {
		return nil, err
	}
	w, err := store.Open(dir, store.Options{MaxBytes: int64(cfg.MaxDisk), MaxExamples: cfg.Examples})
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	s := &CompareSink{
		log: log, dir: dir, w: w, http: h, keep: int(cfg.Keep), ex: cfg.Examples > 0,
		q: make(chan compareJob, max(cfg.Queue, 1)), done: make(chan struct{}), pairs: map[pairKey]*pairEntry{},
	}
	if s.keep <= 0 {
		s.keep = protocol.DefaultKeep
	}
	if exp != nil {
		s.online = exp.Histogram("compare_online_response_seconds", "production's response time per compared request: request's first byte to the response's last byte, as captured", nil)
		s.target = exp.Histogram("compare_target_response_seconds", "the target's response time per compared request: request's first byte sent to the response's last byte received", nil)
	}
	go s.run()
	log.Info("comparing exchanges", "store", dir, "max_disk", cfg.MaxDisk.String(), "queue", cfg.Queue)
	return s, nil
}

// runDir makes the directory of one run under parent, named by its start
// time (a second run in the same second gets a suffix).
func runDir(parent string, start time.Time) (string, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("compare: compare.store: %w", err)
	}
	base := filepath.Join(parent, start.UTC().Format("20060102T150405Z"))
	for i := 1; i < 100; i++ {
		dir := base
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("compare: compare.store: %w", err)
		}
	}
	return "", fmt.Errorf("compare: compare.store: %s: too many runs in one second", parent)
}

// Dir is the store directory of this run.
func (s *CompareSink) Dir() string { return s.dir }

// Stats returns the live counters.
func (s *CompareSink) Stats() *gateway.CompareStats { return &s.st }

// Counts are the store's counts so far.
func (s *CompareSink) Counts() store.Counts { return s.w.Counts() }

// Exchange queues one exchange from copier instance from for comparison.
// It copies x's payloads (cut to [compare] keep), never blocks, and drops
// and counts when the queue is full. It is the gateway's
// ServerConfig.OnExchange.
func (s *CompareSink) Exchange(from [16]byte, x *wire.Exchange) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return
	}
	req, on, tg := cut(x.RequestData, s.keep), cut(x.OnlineData, s.keep), cut(x.TargetData, s.keep)
	size := int64(len(req) + len(on) + len(tg))
	if s.queued.Add(size) > compareQueueBytes {
		s.queued.Add(-size)
		s.st.QueueFull.Add(1)
		return
	}
	j := compareJob{from: from, x: *x, size: size}
	buf := make([]byte, 0, size)
	buf = append(append(append(buf, req...), on...), tg...)
	j.x.RequestData = buf[:len(req):len(req)]
	j.x.OnlineData = buf[len(req) : len(req)+len(on) : len(req)+len(on)]
	j.x.TargetData = buf[len(req)+len(on):]
	if len(req) < len(x.RequestData) || len(on) < len(x.OnlineData) || len(tg) < len(x.TargetData) {
		j.x.Flags |= wire.ExchangeTruncated
	}
	select {
	case s.q <- j:
	default:
		s.queued.Add(-size)
		s.st.QueueFull.Add(1)
	}
}

func cut(b []byte, n int) []byte { return b[:min(len(b), n)] }

// EngineExchange is the engine's Config.OnExchange in the appliance: the
// exchanges of its sessions go straight into the sink (from the zero
// instance). names and noise are per route: the protocol name and whether
// the route has a noise target.
func (s *CompareSink) EngineExchange(names []string, noise []bool) func(copier.ExchangeSource, *protocol.Exchange) {
	return func(src copier.ExchangeSource, x *protocol.Exchange) {
		name, hasNoise := "tcp", false
		if src.Route >= 0 && src.Route < len(names) {
			name, hasNoise = names[src.Route], noise[src.Route]
		}
		f, _ := copier.ExchangeFrame(src, name, hasNoise, x)
		s.Exchange([16]byte{}, &f)
	}
}

// Close stops taking exchanges, compares what is queued (requests still
// waiting for their noise twin are compared without it) and closes the
// store, writing its counts.
func (s *CompareSink) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.q)
	s.closeMu.Unlock()
	<-s.done
	return s.w.Close()
}

// run is the worker: it compares queued exchanges and expires pairs.
func (s *CompareSink) run() {
	defer close(s.done)
	tick := time.NewTicker(pairWait / 5)
	defer tick.Stop()
	for {
		select {
		case j, ok := <-s.q:
			if !ok {
				s.expire(time.Time{})
				return
			}
			s.queued.Add(-j.size)
			s.handle(&j, time.Now())
		case now := <-tick.C:
			s.expire(now.Add(-pairWait))
		}
	}
}

// handle compares one exchange and pairs it with its noise twin.
func (s *CompareSink) handle(j *compareJob, now time.Time) {
	x := &j.x
	key := pairKey{from: j.from, route: x.Route, conn: x.Conn, request: x.Request}
	if x.Flags&wire.ExchangeNoise != 0 {
		s.st.NoiseIn.Add(1)
		d, _, _ := s.diff(x)
		e := s.pairs[key]
		if e == nil {
			if len(s.pairs) >= maxPairs {
				return // no room: its mains are compared alone when they come
			}
			e = &pairEntry{at: now}
			s.pairs[key] = e
		}
		e.noise = &d
		for _, r := range e.waiting {
			s.put(classify(r, d))
		}
		e.waiting = nil
		return
	}
	r := s.result(j)
	if x.Flags&wire.ExchangeHasNoise == 0 {
		s.put(r)
		return
	}
	e := s.pairs[key]
	switch {
	case e != nil && e.noise != nil:
		s.put(classify(r, *e.noise))
	case e != nil && len(e.waiting) < maxWaiting:
		e.waiting = append(e.waiting, r)
	case e == nil && len(s.pairs) < maxPairs:
		s.pairs[key] = &pairEntry{waiting: []store.Result{r}, at: now}
	default:
		s.st.Unpaired.Add(1)
		s.put(r)
	}
}

func classify(r store.Result, noise compare.Diff) store.Result {
	r.Diff = compare.Classify(r.Diff, noise)
	return r
}

// expire compares the requests that waited for their twin since before
// older (zero: all) without it, and forgets their entries.
func (s *CompareSink) expire(older time.Time) {
	for k, e := range s.pairs {
		if !older.IsZero() && !e.at.Before(older) {
			continue
		}
		for _, r := range e.waiting {
			s.st.Unpaired.Add(1)
			s.put(r)
		}
		delete(s.pairs, k)
	}
}

// result compares a main exchange into its store result.
func (s *CompareSink) result(j *compareJob) store.Result {
	x := &j.x
	d, onErr, tgErr := s.diff(x)
	ep := x.Key
	if ep == "" {
		ep = x.Kind
	}
	if ep == "" {
		ep = x.Protocol
	}
	at := time.Now()
	if x.TargetSent > 0 {
		at = time.Unix(0, x.TargetSent)
	}
	r := store.Result{
		Time: at, Session: fmt.Sprintf("%s/%d/%d/%d", hex.EncodeToString(j.from[:4]), x.Route, x.Conn, x.Copy),
		Request: int(x.Request), Protocol: x.Protocol, Endpoint: ep,
		OnlineMs: millis(x.OnlineSent, x.OnlineFirst, x.OnlineLast), TargetMs: millis(x.TargetSent, x.TargetFirst, x.TargetLast),
		OnlineError: onErr, TargetError: tgErr, Diff: d,
	}
	if s.ex && !d.Same() {
		// The buffer is this job's own: the store takes it over.
		r.Example = &store.Payloads{Online: x.OnlineData, Target: x.TargetData}
	}
	return r
}

// millis is a response time from the request's first byte to the
// response's last (first when the last is unknown); 0 when unknown.
func millis(sent, first, last int64) float64 {
	end := last
	if end == 0 {
		end = first
	}
	if sent == 0 || end < sent {
		return 0
	}
	return float64(end-sent) / 1e6
}

// put hands r to the store and counts it.
func (s *CompareSink) put(r store.Result) {
	st := &s.st
	st.Compared.Add(1)
	if !r.Same() {
		st.Differing.Add(1)
	}
	for _, k := range []struct {
		k compare.Kind
		c *atomic.Uint64
	}{{compare.Status, &st.Status}, {compare.Headers, &st.Headers}, {compare.Body, &st.Body}} {
		if r.Kinds&k.k != 0 {
			k.c.Add(1)
		}
	}
	if len(r.Noise) > 0 {
		st.Noisy.Add(1)
	}
	if s.online != nil {
		if r.OnlineMs > 0 {
			s.online.Observe(r.OnlineMs / 1e3)
		}
		if r.TargetMs > 0 {
			s.target.Observe(r.TargetMs / 1e3)
		}
	}
	if !s.w.Put(r) {
		st.StoreFull.Add(1)
	}
}

// diff compares x's online and target responses by its protocol and says
// whether each side is an error answer (HTTP 5xx, a RESP error, MySQL ERR).
func (s *CompareSink) diff(x *wire.Exchange) (d compare.Diff, onErr, tgErr bool) {
	switch x.Protocol {
	case "http":
		on, okOn := frameHTTP(x.RequestData, x.OnlineData)
		tg, okTg := frameHTTP(x.RequestData, x.TargetData)
		if okOn && okTg {
			return s.http.Diff(&on, &tg), on.Status >= 500, tg.Status >= 500
		}
	case "redis", "resp":
		on, okOn := frameRESP(x.OnlineData)
		tg, okTg := frameRESP(x.TargetData)
		if okOn && okTg {
			return compare.RESP(on, tg), on.IsError(), tg.IsError()
		}
	case "mysql":
		var on, tg compare.MySQLResult
		if json.Unmarshal(x.OnlineData, &on) == nil && json.Unmarshal(x.TargetData, &tg) == nil {
			return compare.MySQL(on, tg), on.Class == "err", tg.Class == "err"
		}
	default:
		return compare.Bytes(x.OnlineData, x.TargetData), false, false
	}
	s.st.FramingFails.Add(1)
	return compare.Bytes(x.OnlineData, x.TargetData), false, false
}

// frameHTTP frames the one response to the request in req.
func frameHTTP(req, data []byte) (httpframe.Response, bool) {
	f := httpframe.NewResponses(0)
	method := "GET"
	if i := bytes.IndexByte(req, ' '); i > 0 {
		method = string(req[:i])
	}
	f.Expect(method)
	if f.Feed(data) != nil || f.Close() != nil {
		return httpframe.Response{}, false
	}
	return f.Next()
}

// frameRESP frames the one reply in data.
func frameRESP(data []byte) (resp.Reply, bool) {
	f := resp.NewFramer(0)
	if f.Feed(data) != nil {
		return resp.Reply{}, false
	}
	r, ok := f.Next()
	return r, ok && f.Pending() == 0
}

// exchangeSink is the engine's OnExchange for the copier of p: the
// exchanges of compared routes go to local (the appliance's sink) or else
// to the gateway client gw holds once the copier is built; those of other
// routes go nowhere. nil when no route is compared.
func exchangeSink(p *configs.Copy, local func(copier.ExchangeSource, *protocol.Exchange), gw *atomic.Pointer[copier.GatewayClient]) func(copier.ExchangeSource, *protocol.Exchange) {
	compared := make([]bool, len(p.Routes))
	names, _ := routeNames(p)
	any := false
	for i := range p.Routes {
		compared[i] = p.Routes[i].Compared
		any = any || compared[i]
	}
	if !any {
		return nil
	}
	return func(src copier.ExchangeSource, x *protocol.Exchange) {
		if src.Route < 0 || src.Route >= len(compared) || !compared[src.Route] {
			return
		}
		if local != nil {
			local(src, x)
			return
		}
		if g := gw.Load(); g != nil {
			g.SendExchange(src, names[src.Route], x)
		}
	}
}

// routeProtocolName is the protocol name a route's exchanges are compared
// by: its protocol key, "tcp" (bytes) when unset.
func routeProtocolName(r *configs.Route) string {
	if r.Protocol == "" {
		return configs.ProtocolTCP
	}
	return r.Protocol
}

// routeNames lists each route's protocol name and whether it has a noise
// target, for EngineExchange.
func routeNames(p *configs.Copy) (names []string, noise []bool) {
	for i := range p.Routes {
		names = append(names, routeProtocolName(&p.Routes[i]))
		noise = append(noise, p.Routes[i].NoiseAddr.IsValid())
	}
	return names, noise
}
