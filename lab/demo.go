package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// DemoOptions configures RunDemo. Zero values take the defaults.
type DemoOptions struct {
	Binary       string        // replaygw binary run for both roles; default os.Executable()
	Duration     time.Duration // load duration; default 10s
	Rate         float64       // requests per second; default 500
	Prefix       string        // namespace prefix; default "rgdemo"
	ReadyTimeout time.Duration // children up and the first request replayed; default 20s
	Settle       time.Duration // after the load, how long to wait for late replays; default 5s
	MinSuccess   float64       // percent of requests that must reach the target; default 99
	KeepLogs     bool          // keep the temp dir (config and child logs) even on success
	Logger       *slog.Logger  // default discards
}

// DemoResult is the outcome of a demo run.
type DemoResult struct {
	Sent     int     // load requests answered by the online server
	Replayed int     // of those, how many the target received
	Success  float64 // 100 * Replayed / Sent
	// Latencies: client = round trip seen by the load generator; online and
	// target = time in each server's handler (comparable with each other).
	ClientP50, ClientP99 time.Duration
	OnlineP50, OnlineP99 time.Duration
	TargetP50, TargetP99 time.Duration
	// Leaked counts pool-bound packets seen where none may be: on the
	// client's and the online host's LAN interfaces, and sent out again by
	// the assistant.
	Leaked uint64
	// PoolSources is how many distinct client addresses the target saw
	// inside the client pool; OtherSources counts requests from outside it.
	PoolSources  int
	OtherSources int
	LogDir       string
}

// Defaults fills the zero fields of o.
func (o *DemoOptions) Defaults() error {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("lab: demo: find own binary: %w", err)
		}
		o.Binary = exe
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 500
	}
	if o.Prefix == "" {
		o.Prefix = "rgdemo"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 20 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	if o.MinSuccess <= 0 {
		o.MinSuccess = 99
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// RunDemo builds a lab, runs `replaygw up` on the assistant and `replaygw
// copy` on the online host as child processes, drives a bounded HTTP load
// from the client to the online server and prints a live table of what the
// target receives. Everything is removed at the end, also when ctx is
// canceled. It fails when less than MinSuccess percent of the requests
// reached the target.
func RunDemo(ctx context.Context, opts DemoOptions, out io.Writer) error {
	_, err := Demo(ctx, opts, out)
	return err
}

// Demo is RunDemo returning the measured result.
func Demo(ctx context.Context, opts DemoOptions, out io.Writer) (res *DemoResult, err error) {
	if err := opts.Defaults(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rgdemo-")
	if err != nil {
		return nil, fmt.Errorf("lab: demo: temp dir: %w", err)
	}
	res = &DemoResult{LogDir: dir}
	defer func() {
		if (err != nil && !errors.Is(err, context.Canceled)) || opts.KeepLogs {
			fmt.Fprintf(out, "demo: config and child logs kept in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	d := &Rig{Opts: opts, Out: out, Dir: dir, Res: res}
	defer func() {
		d.Close()
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(out, "demo: interrupted; children stopped, lab removed")
		}
	}()
	if err := d.Setup(); err != nil {
		return res, err
	}
	if err := d.StartChildren(ctx); err != nil {
		return res, err
	}
	if err := d.run(ctx); err != nil {
		return res, err
	}
	if res.Success < opts.MinSuccess {
		return res, fmt.Errorf("lab: demo: only %.2f%% of %d requests reached the target (want %.1f%%)", res.Success, res.Sent, opts.MinSuccess)
	}
	if res.Leaked != 0 {
		return res, fmt.Errorf("lab: demo: %d pool-bound packets leaked onto the LAN", res.Leaked)
	}
	return res, nil
}

// Rig holds one demo run's resources. RunDemo builds one; the end-to-end
// tests build their own: fill Opts, Out, Dir and Res, call Opts.Defaults,
// then Setup (lab, ID servers, packet counters, configs, log files) and
// StartChildren (both roles), and Close at the end.
type Rig struct {
	Opts DemoOptions
	Out  io.Writer
	Dir  string
	Res  *DemoResult

	Lab            *Lab
	Online, Target *IDServer
	Leaks          []*PacketCounter
	Forwarded      *PacketCounter
	GWConfig       string
	CPConfig       string
	GW, CP         *Proc
	GWLog, CPLog   *os.File
	CPArgs         []string // extra arguments of `replaygw copy` (e.g. --record F)
}

// Setup builds the lab, the ID servers on online:80 and target:80, the
// packet counters, both roles' configs and their log files in Dir.
func (d *Rig) Setup() error {
	lab, err := NewLab(LabOptions{Prefix: d.Opts.Prefix, Logger: d.Opts.Logger})
	if err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	d.Lab = lab
	fmt.Fprintf(d.Out, "demo: lab %s: client %s, online %s, target %s, assistant %s; pool %s\n",
		lab.Name, lab.Addr(Client), lab.Addr(Online), lab.Addr(Target), lab.Addr(Assistant), lab.Pool)
	for _, s := range []struct {
		h   Host
		dst **IDServer
	}{{Online, &d.Online}, {Target, &d.Target}} {
		ln, err := lab.Listen(s.h, "tcp", ":80")
		if err != nil {
			return fmt.Errorf("lab: demo: %w", err)
		}
		*s.dst = NewIDServer(ln, IDServerOptions{Logger: d.Opts.Logger})
	}
	for _, h := range []Host{Client, Online} {
		pc, err := lab.NewPacketCounter(h, Iface, lab.Pool, lab.Pool6)
		if err != nil {
			return fmt.Errorf("lab: demo: %w", err)
		}
		d.Leaks = append(d.Leaks, pc)
	}
	if d.Forwarded, err = lab.NewPacketCounter(Assistant, Iface, lab.Pool, lab.Pool6); err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	cfg := NewDemoConfig(lab)
	d.GWConfig = filepath.Join(d.Dir, "gateway.toml")
	d.CPConfig = filepath.Join(d.Dir, "copier.toml")
	for _, f := range []struct{ path, text string }{{d.GWConfig, cfg.GatewayTOML()}, {d.CPConfig, cfg.CopierTOML()}} {
		if err := os.WriteFile(f.path, []byte(f.text), 0o600); err != nil {
			return fmt.Errorf("lab: demo: write config: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		dst  **os.File
	}{{"gateway.log", &d.GWLog}, {"copier.log", &d.CPLog}} {
		if *f.dst, err = os.Create(filepath.Join(d.Dir, f.name)); err != nil {
			return fmt.Errorf("lab: demo: %w", err)
		}
	}
	return nil
}

// StartChildren starts the gateway, waits for its metrics, then the copier,
// then waits until a probe request is replayed end to end.
func (d *Rig) StartChildren(ctx context.Context) error {
	deadline := time.Now().Add(d.Opts.ReadyTimeout)
	var err error
	d.GW, err = d.Lab.Start(Assistant, d.GWLog, d.Opts.Binary, "up", "--config", d.GWConfig)
	if err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	tunUp := func() bool { return d.Lab.Exec(Assistant, "ip", "link", "show", "rgw0").Run() == nil }
	if err := d.WaitReady(ctx, Assistant, d.GW, d.GWLog, deadline, tunUp, "its TUN rgw0 exists"); err != nil {
		return err
	}
	d.CP, err = d.Lab.Start(Online, d.CPLog, append([]string{d.Opts.Binary, "copy", "--config", d.CPConfig}, d.CPArgs...)...)
	if err != nil {
		return fmt.Errorf("lab: demo: %w", err)
	}
	started := time.Now()
	aliveAWhile := func() bool { return time.Since(started) > 2*time.Second }
	if err := d.WaitReady(ctx, Online, d.CP, d.CPLog, deadline, aliveAWhile, "it runs for 2s"); err != nil {
		return err
	}
	return d.WaitReplay(ctx, deadline)
}

// WaitReady polls the child's /metrics inside its namespace until it
// answers 200, or until alt reports the child usable another way (for
// builds without metrics).
func (d *Rig) WaitReady(ctx context.Context, h Host, p *Proc, log *os.File, deadline time.Time, alt func() bool, altWhat string) error {
	dial, err := d.Lab.Dialer(h)
	if err != nil {
		return err
	}
	hc := dial.HTTPClient(time.Second)
	url := "http://" + DemoMetricsListen + "/metrics"
	start := time.Now()
	for {
		select {
		case <-p.Done():
			return fmt.Errorf("lab: demo: %s exited before it was ready: %v\n%s", childName(h), p.Err(), LogTail(log.Name(), 15))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(d.Out, "demo: %s ready after %v (pid %d)\n", childName(h), time.Since(start).Round(time.Millisecond), p.Pid())
				return nil
			}
		}
		if alt() {
			fmt.Fprintf(d.Out, "demo: %s: no /metrics on %s, taken as ready because %s (pid %d)\n", childName(h), DemoMetricsListen, altWhat, p.Pid())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: demo: %s /metrics on %s not ready within %v (last: %v)\n%s",
				childName(h), DemoMetricsListen, d.Opts.ReadyTimeout, err, LogTail(log.Name(), 15))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitReplay sends probe requests until one of them reaches the target.
func (d *Rig) WaitReplay(ctx context.Context, deadline time.Time) error {
	start := time.Now()
	for i := 0; ; i++ {
		if err := d.ChildrenAlive(); err != nil {
			return err
		}
		if _, err := d.Lab.Load(ctx, Client, LoadOptions{
			Addr: d.Lab.Addr(Online).String() + ":80", Short: 1, Duration: time.Second, IDPrefix: fmt.Sprintf("probe%d", i),
		}); err != nil {
			return fmt.Errorf("lab: demo: probe: %w", err)
		}
		wait := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(wait) {
			if d.Target.CountPrefix("probe") > 0 {
				fmt.Fprintf(d.Out, "demo: first request replayed after %v\n", time.Since(start).Round(time.Millisecond))
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: demo: no probe request reached the target within %v (online saw %d)\ngateway log:\n%s\ncopier log:\n%s",
				d.Opts.ReadyTimeout, d.Online.CountPrefix("probe"), LogTail(d.GWLog.Name(), 10), LogTail(d.CPLog.Name(), 10))
		}
	}
}

// ChildrenAlive returns an error naming the first role that has exited.
func (d *Rig) ChildrenAlive() error {
	for _, c := range []struct {
		p   *Proc
		log *os.File
	}{{d.GW, d.GWLog}, {d.CP, d.CPLog}} {
		select {
		case <-c.p.Done():
			return fmt.Errorf("lab: demo: %s exited: %v\n%s", childName(c.p.Host), c.p.Err(), LogTail(c.log.Name(), 15))
		default:
		}
	}
	return nil
}

// run drives the load, prints the live table and the summary.
func (d *Rig) run(ctx context.Context) error {
	total := int(d.Opts.Rate * d.Opts.Duration.Seconds())
	perConn := 50
	ka := total / 2 / perConn
	lo := LoadOptions{
		Addr:        d.Lab.Addr(Online).String() + ":80",
		Short:       total - ka*perConn,
		KeepAlive:   ka,
		PerConn:     perConn,
		Rate:        d.Opts.Rate,
		Duration:    d.Opts.Duration + 2*time.Second,
		Concurrency: 32 + ka,
		IDPrefix:    "load",
	}
	fmt.Fprintf(d.Out, "demo: %d requests at %.0f/s from %s to %s: %d on short connections, %d keep-alive connections of %d\n",
		total, d.Opts.Rate, d.Lab.Addr(Client), lo.Addr, lo.Short, ka, perConn)
	type loadDone struct {
		res *LoadResult
		err error
	}
	done := make(chan loadDone, 1)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		r, err := d.Lab.Load(lctx, Client, lo)
		done <- loadDone{r, err}
	}()
	table := demoTable{d.Out}
	table.header()
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var onIdx, tgIdx int
	var onAll, tgAll []time.Duration
	row := func() {
		var on, tg []time.Duration
		on, onIdx = d.Online.Latencies(onIdx)
		tg, tgIdx = d.Target.Latencies(tgIdx)
		onAll, tgAll = append(onAll, on...), append(tgAll, tg...)
		table.row(time.Since(start), d.Online.CountPrefix("load"), d.Target.CountPrefix("load"), on, tg)
	}
	var lr *LoadResult
	for lr == nil {
		select {
		case <-tick.C:
			row()
			if err := d.ChildrenAlive(); err != nil {
				return err
			}
		case r := <-done:
			if r.err != nil {
				return fmt.Errorf("lab: demo: load: %w", r.err)
			}
			lr = r.res
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Late replays: wait until the target has them all, or nothing moves
	// for a second, or Settle passes.
	settleEnd := time.Now().Add(d.Opts.Settle)
	last, lastMove := d.Target.CountSeen(lr.OK), time.Now()
	for time.Now().Before(settleEnd) && last < len(lr.OK) && time.Since(lastMove) < time.Second {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if n := d.Target.CountSeen(lr.OK); n != last {
			last, lastMove = n, time.Now()
		}
	}
	row()
	on, _ := d.Online.Latencies(onIdx)
	tg, _ := d.Target.Latencies(tgIdx)
	onAll, tgAll = append(onAll, on...), append(tgAll, tg...)

	r := d.Res
	r.Sent = len(lr.OK)
	r.Replayed = d.Target.CountSeen(lr.OK)
	r.Success = Percent(r.Replayed, r.Sent)
	r.ClientP50, r.ClientP99 = Percentile(lr.Latencies, 50), Percentile(lr.Latencies, 99)
	r.OnlineP50, r.OnlineP99 = Percentile(onAll, 50), Percentile(onAll, 99)
	r.TargetP50, r.TargetP99 = Percentile(tgAll, 50), Percentile(tgAll, 99)
	for _, pc := range d.Leaks {
		r.Leaked += pc.Matched()
	}
	r.Leaked += d.Forwarded.Stats.Out.Load()
	for a, n := range d.Target.Sources() {
		if d.Lab.Pool.Contains(a) || d.Lab.Pool6.Contains(a) {
			r.PoolSources++
		} else {
			r.OtherSources += n
		}
	}
	if lr.Failed > 0 || lr.NotSent > 0 {
		fmt.Fprintf(d.Out, "demo: load: %d failed, %d not sent; first errors: %v\n", lr.Failed, lr.NotSent, lr.Errors)
	}
	fmt.Fprintf(d.Out, "summary: %d requests answered online, %d replayed on target: success %.2f%%; "+
		"latency p50/p99 client %s/%s, online server %s/%s, target server %s/%s; "+
		"target clients: %d pool addresses, %d requests from outside the pool; target duplicates %d; pool-bound packets leaked %d\n",
		r.Sent, r.Replayed, r.Success, fmtDur(r.ClientP50), fmtDur(r.ClientP99),
		fmtDur(r.OnlineP50), fmtDur(r.OnlineP99), fmtDur(r.TargetP50), fmtDur(r.TargetP99),
		r.PoolSources, r.OtherSources, d.Target.Stats.Duplicates.Load(), r.Leaked)
	return nil
}

// Close stops the children (SIGTERM, then SIGKILL) and removes the lab.
func (d *Rig) Close() {
	for _, p := range []*Proc{d.CP, d.GW} { // copier first: it talks to the gateway
		if p == nil {
			continue
		}
		if err := p.Stop(5 * time.Second); err != nil {
			fmt.Fprintf(d.Out, "demo: %s stopped: %v\n", childName(p.Host), err)
		}
	}
	for _, s := range []*IDServer{d.Online, d.Target} {
		if s != nil {
			s.Close()
		}
	}
	if d.Lab != nil {
		if err := d.Lab.Close(); err != nil {
			fmt.Fprintf(d.Out, "demo: cleanup: %v\n", err)
		}
	}
	for _, f := range []*os.File{d.GWLog, d.CPLog} {
		if f != nil {
			f.Close()
		}
	}
}

func childName(h Host) string {
	if h == Assistant {
		return "gateway (replaygw up)"
	}
	return "copier (replaygw copy)"
}

// LogTail returns the last n lines of a child's log file.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%s: %v)", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, "  | "+sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "  | (" + filepath.Base(path) + " is empty)"
	}
	return fmt.Sprintf("  %s:\n%s", path, joinLines(lines))
}

func joinLines(l []string) string {
	var b bytes.Buffer
	for _, s := range l {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}
