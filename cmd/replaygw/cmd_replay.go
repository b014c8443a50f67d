package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/replay"
)

type replayFlags struct {
	speed    float64
	loops    int
	from, to time.Duration
	maxGap   time.Duration
	drain    time.Duration
	progress bool
}

// speedFlag parses --speed: a factor, or "max".
type speedFlag struct{ v *float64 }

func (s speedFlag) String() string {
	if s.v == nil || *s.v == 1 {
		return "1"
	}
	if math.IsInf(*s.v, 1) {
		return "max"
	}
	return strconv.FormatFloat(*s.v, 'g', -1, 64)
}

func (s speedFlag) Set(v string) error {
	if strings.EqualFold(v, "max") {
		*s.v = math.Inf(1)
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsNaN(f) {
		return fmt.Errorf("want a factor > 0 (2 = twice as fast) or max, not %q", v)
	}
	*s.v = f
	return nil
}

func init() {
	c := &command{name: "replay", usage: "[--config FILE] [--speed N|max] [--loops N] [--from D] [--to D] FILE.pcap[ng][.gz]",
		summary: "replay a capture file (pcap, pcapng, gzip) to the target through the session engine; with [gateway] in the config, in one process (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		level := fs.String("log-level", "", "override [log] level")
		rf := replayFlags{speed: 1}
		fs.Var(speedFlag{&rf.speed}, "speed", "timing factor: 2 plays twice as fast, max as fast as possible")
		fs.IntVar(&rf.loops, "loops", 1, "play the file this many times")
		fs.DurationVar(&rf.from, "from", 0, "start this far into the capture")
		fs.DurationVar(&rf.to, "to", 0, "stop this far into the capture (0: the end)")
		fs.DurationVar(&rf.maxGap, "max-gap", 0, "shorten idle gaps in the capture to this (0: keep them)")
		fs.DurationVar(&rf.drain, "drain", 10*time.Second, "after the file, wait this long at most for open sessions to finish")
		noProgress := fs.Bool("no-progress", false, "no progress bar")
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		if rf.loops < 1 {
			return fmt.Errorf("--loops %d: want at least 1", rf.loops)
		}
		if rf.to != 0 && rf.to <= rf.from {
			return fmt.Errorf("--to %s is not after --from %s", rf.to, rf.from)
		}
		rf.progress = !*noProgress
		cfg, err := configs.Load(*path)
		if err != nil {
			return err
		}
		if cfg.Copy == nil {
			return fmt.Errorf("%s has no [copy] section: replay needs its routes (and pool, copies, sampling)", *path)
		}
		log := newLogger(cfg.Log, *level)
		warn(log, cfg)
		return replayFile(ctx, cfg, log, fs.Arg(0), rf)
	}
	register(c)
}

// replayFile plays a capture through the engine: in-process with the
// gateway when the config has [gateway] (the one-host appliance), otherwise
// through the configured sender and remote gateways.
func replayFile(ctx context.Context, cfg *configs.Config, log *slog.Logger, file string, rf replayFlags) error {
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	var (
		eng   *copier.Engine
		exp   *metrics.Exporter
		close func() error
	)
	if cfg.Gateway != nil {
		a, err := openAppliance(cfg, log, false)
		if err != nil {
			return err
		}
		gwCtx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.gw.Run(gwCtx) }()
		eng, exp = a.cp.Engine(), a.exp
		close = func() error {
			err := a.cp.Close()
			cancel()
			return errors.Join(err, <-done, a.Close())
		}
	} else {
		exp = metrics.New("copier")
		exp.SetLogger(log)
		cp, err := openCopier(cfg, exp, log, copier.Options{NoCapture: true})
		if err != nil {
			return err
		}
		eng, close = cp.Engine(), cp.Close
		if g := cp.Gateways(); g != nil {
			waitGateway(ctx, g, 5*time.Second, log)
		}
	}
	stop := serveMetrics(ctx, exp, cfg.Metrics.Listen, log)
	defer stop()

	st := eng.Stats()
	opts := replay.Options{Speed: rf.speed, Loops: rf.loops, From: rf.from, To: rf.to, MaxGap: rf.maxGap,
		Live: func() string {
			return fmt.Sprintf("sessions %d  requests %d  replayed %d", st.SessionsStarted.Load(),
				st.RequestsReleased.Load(), st.Fate(copier.FateReplayed))
		}}
	if math.IsInf(rf.speed, 1) {
		opts.Speed = 0
	}
	if rf.progress {
		opts.Progress = os.Stderr
	}
	start := time.Now()
	servers := make([]netip.AddrPort, 0, len(cfg.Copy.Routes))
	for _, r := range cfg.Copy.Routes {
		servers = append(servers, r.FromAddr)
	}
	shift := replay.NewLoopShift(servers)
	opts.OnLoop = shift.SetLoop
	sum, playErr := replay.Play(ctx, file, opts, shift.Wrap(eng.HandlePacketWait))
	// What was captured before a damaged record still completes.
	drainSessions(ctx, eng.Sessions, func() uint64 {
		return st.SessionsStarted.Load() + st.SessionsEnded.Load() + st.PacketsSent.Load()
	}, rf.drain, drainQuiet)
	closeErr := close()
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
	if sum != nil {
		replay.PrintSummary(os.Stdout, sum,
			fmt.Sprintf("sessions:  %d started, %d ended (%s)", st.SessionsStarted.Load(), st.SessionsEnded.Load(), strings.Join(fl, ", ")),
			fmt.Sprintf("requests:  %d released to the target, %d payload bytes", st.RequestsReleased.Load(), st.PayloadBytesNew.Load()),
			fmt.Sprintf("wall time: %s", time.Since(start).Round(time.Millisecond)))
	}
	if playErr != nil && !errors.Is(playErr, context.Canceled) {
		return fmt.Errorf("replay %s: %w", file, playErr)
	}
	return closeErr
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

func waitGateway(ctx context.Context, g *copier.GatewayClient, max time.Duration, log *slog.Logger) {
	deadline := time.Now().Add(max)
	for g.Connected() == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if g.Connected() == 0 {
		log.Warn("no gateway connected yet; sessions will end with fate no_gateway until one is")
	}
}
