package role

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/replay"
)

// Replay is what a capture file is played into: a copier whose responses
// come from copy.gateways, or, with a local gateway, the appliance.
type Replay struct {
	Engine   *copier.Engine
	Exporter *metrics.Exporter
	close    func() error
}

// OpenReplay opens the copier for a file replay. local runs the gateway in
// this process (it needs [gateway]); otherwise the responses come from
// copy.gateways and OpenReplay waits up to 5 s for one to connect.
func OpenReplay(ctx context.Context, cfg *configs.Config, log *slog.Logger, local bool) (*Replay, error) {
	if cfg.Copy == nil {
		return nil, fmt.Errorf("%s has no [copy] section: replay needs its routes (and pool, copies, sampling)", cfg.Path)
	}
	if local {
		if cfg.Gateway == nil {
			return nil, fmt.Errorf("%s has no [gateway] section: --local-gateway runs the gateway in this process from it", cfg.Path)
		}
		a, err := OpenAppliance(cfg, log, false)
		if err != nil {
			return nil, err
		}
		gwCtx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.gw.Run(gwCtx) }()
		return &Replay{Engine: a.cp.Engine(), Exporter: a.exp, close: func() error {
			err := a.cp.Close()
			cancel()
			return errors.Join(err, <-done, a.Close())
		}}, nil
	}
	if len(cfg.Copy.Gateways) == 0 {
		return nil, fmt.Errorf("%s: copy.gateways is empty: replay sends through remote gateways (or pass --local-gateway to run one in this process from [gateway])", cfg.Path)
	}
	only := *cfg
	only.Gateway, only.Copy = nil, standalone(cfg)
	exp := newExporter("copier", log)
	cp, err := OpenCopier(&only, exp, log, CopierOptions{NoCapture: true})
	if err != nil {
		return nil, err
	}
	if g := cp.Gateways(); g != nil {
		waitGateway(ctx, g, 5*time.Second, log)
	}
	return &Replay{Engine: cp.Engine(), Exporter: exp, close: cp.Close}, nil
}

// Close ends the sessions and releases everything.
func (r *Replay) Close() error { return r.close() }

func waitGateway(ctx context.Context, g *copier.GatewayClient, max time.Duration, log *slog.Logger) {
	deadline := time.Now().Add(max)
	for g.Connected() == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if g.Connected() == 0 {
		log.Warn("no gateway connected yet; sessions will end with fate no_gateway until one is")
	}
}

// PlayOptions are PlayFile's own options.
type PlayOptions struct {
	Local   bool          // the gateway in this process (OpenReplay)
	Drain   time.Duration // after the file, wait this long at most for open sessions
	Summary io.Writer     // where the summary goes; nil: nowhere
}

// PlayFile plays file into the engine of OpenReplay (loop after loop with
// the clients shifted, see replay.LoopShift), waits for its sessions,
// closes everything and writes the summary.
func PlayFile(ctx context.Context, cfg *configs.Config, log *slog.Logger, file string, opts replay.Options, po PlayOptions) error {
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	r, err := OpenReplay(ctx, cfg, log, po.Local)
	if err != nil {
		return err
	}
	stop := ServeMetrics(ctx, r.Exporter, cfg.Metrics.Listen, log)
	defer stop()
	opts.Live = r.Live
	start := time.Now()
	servers := make([]netip.AddrPort, 0, len(cfg.Copy.Routes))
	for _, rt := range cfg.Copy.Routes {
		servers = append(servers, rt.FromAddr)
	}
	shift := replay.NewLoopShift(servers)
	opts.OnLoop = shift.SetLoop
	sum, playErr := replay.Play(ctx, file, opts, shift.Wrap(r.Engine.HandlePacketWait))
	// What was captured before a damaged record still completes.
	r.Drain(ctx, po.Drain)
	closeErr := r.Close()
	if sum != nil && po.Summary != nil {
		replay.PrintSummary(po.Summary, sum, append(r.Summary(), fmt.Sprintf("wall time: %s", time.Since(start).Round(time.Millisecond)))...)
	}
	if playErr != nil && !errors.Is(playErr, context.Canceled) {
		return fmt.Errorf("replay %s: %w", file, playErr)
	}
	return closeErr
}

// Live is the progress line's live part.
func (r *Replay) Live() string {
	st := r.Engine.Stats()
	return fmt.Sprintf("sessions %d  requests %d  replayed %d", st.SessionsStarted.Load(),
		st.RequestsReleased.Load(), st.Fate(copier.FateReplayed))
}

// Drain waits up to max for the sessions of what was played to finish.
func (r *Replay) Drain(ctx context.Context, max time.Duration) {
	st := r.Engine.Stats()
	drainSessions(ctx, r.Engine.Sessions, func() uint64 {
		return st.SessionsStarted.Load() + st.SessionsEnded.Load() + st.PacketsSent.Load()
	}, max, drainQuiet)
}

// Summary is the engine's part of the replay summary: sessions by fate
// (most first) and requests.
func (r *Replay) Summary() []string {
	st := r.Engine.Stats()
	fates := map[string]uint64{}
	st.EachFate(func(f string, n uint64) {
		if n > 0 {
			fates[f] = n
		}
	})
	names := make([]string, 0, len(fates))
	for f := range fates {
		names = append(names, f)
	}
	sort.Slice(names, func(i, j int) bool { return fates[names[i]] > fates[names[j]] })
	var fl []string
	for _, f := range names {
		fl = append(fl, fmt.Sprintf("%s %d", f, fates[f]))
	}
	return []string{
		fmt.Sprintf("sessions:  %d started, %d ended (%s)", st.SessionsStarted.Load(), st.SessionsEnded.Load(), strings.Join(fl, ", ")),
		fmt.Sprintf("requests:  %d released to the target, %d payload bytes", st.RequestsReleased.Load(), st.PayloadBytesNew.Load()),
	}
}

// drainQuiet is how long the engine must show no activity (sessions
// started or ended, packets sent) before an engine without open sessions
// counts as drained.
const drainQuiet = 250 * time.Millisecond

// drainSessions waits until the engine has no open session and has been
// quiet for quiet, ctx ends or max passes. The quiet period matters: the
// engine's workers take packets from queues, so right after a fast replay
// the sessions of the last packets may not have started yet and open()
// still says 0; closing the engine then would end them unplayed.
func drainSessions(ctx context.Context, open func() int, activity func() uint64, max, quiet time.Duration) {
	deadline := time.Now().Add(max)
	last, lastMove := activity(), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if a := activity(); a != last {
			last, lastMove = a, time.Now()
		}
		if open() == 0 && time.Since(lastMove) >= quiet {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
