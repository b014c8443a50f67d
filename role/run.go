package role

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/privdrop"
)

// RunGateway runs the gateway from cfg's [gateway] ([copy] is ignored)
// until ctx ends.
func RunGateway(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	if _, err := Check(cfg, CmdUp); err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(cfg.Gateway.CPUs)
	}
	exp := newExporter("gateway", log)
	gw, err := OpenGatewayWith(cfg.Gateway, log, GatewayOptions{Compare: cfg.Compare, Metrics: exp})
	if err != nil {
		return err
	}
	// Teardown removes routes and filters, which needs CAP_NET_ADMIN; the
	// rest (raw sockets, file access beyond our own) is no longer needed.
	if err := privdrop.Keep(privdrop.NetAdmin); err != nil {
		log.Warn("could not drop capabilities", "err", err)
	}
	log.Debug("capabilities after setup", "effective", privdrop.Effective())
	exp.Add(gw.Counters()...)
	stop := ServeMetrics(ctx, exp, cfg.Metrics.Listen, log)
	defer stop()
	ready(log)
	return gw.Run(ctx)
}

// copierGCPercent is the copier's garbage collection target unless GOGC
// is set. Its live heap is a few MiB and it allocates little (about 1 MB/s
// at 1,000 requests/s), so Go's default of 100 mostly holds garbage: at
// 25 the heap peaks 5 MB lower at 1,000 req/s and collects about twice a
// second at 5,000, with no CPU change beyond the lab's noise
// (docs/benchmarks.md).
const copierGCPercent = 25

// RunCopier runs the copier from cfg's [copy] ([gateway] is ignored) until
// ctx ends.
func RunCopier(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	p, err := copierOnly(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	only := *cfg
	only.Gateway, only.Copy = nil, p
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(p.Workers)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(copierGCPercent)
	}
	exp := newExporter("copier", log)
	cp, err := OpenCopier(&only, exp, log, CopierOptions{})
	if err != nil {
		return err
	}
	defer cp.Close()
	// The capture ring and the raw socket are open: nothing needs a
	// capability any more, but for CAP_NET_RAW while the capture ring may
	// still grow (it opens a new packet socket), dropped once it did, and
	// CAP_NET_ADMIN for an l2 sender that looks next hops up: one missing
	// from the neighbour table is resolved by an RTM_NEWNEIGH (NTF_USE).
	var always []int
	if p.Sender == "l2" && p.NextHopMAC == "" {
		always = append(always, privdrop.NetAdmin)
	}
	keep := append([]int(nil), always...)
	if live := cp.growableCapture(); live != nil {
		keep = append(keep, privdrop.NetRaw)
		live.OnSettled(func() {
			if err := privdrop.Keep(always...); err != nil {
				log.Warn("could not drop capabilities", "err", err)
			}
			log.Info("capture ring settled: capabilities dropped", "capabilities", privdrop.Effective())
		})
	}
	drop := privdrop.Keep
	if len(keep) > 0 {
		drop = privdrop.KeepForNow
	}
	if err := drop(keep...); err != nil {
		log.Warn("could not drop capabilities", "err", err)
	}
	stop := ServeMetrics(ctx, exp, cfg.Metrics.Listen, log)
	defer stop()
	if n, err := releaseStartupPages(); err != nil {
		log.Warn("could not release start-up pages", "err", err)
	} else {
		log.Debug("released start-up pages", "mapped_bytes", n)
	}
	log.Info("copier running", "interface", p.Interface, "routes", len(p.Routes),
		"gateways", p.Gateways, "copies", p.Copies, "workers", p.Workers,
		"cpus", runtime.GOMAXPROCS(0), "capabilities", privdrop.Effective())
	ready(log)
	return cp.Run(ctx)
}

// Version is the binary's version, shown on the status page (the command
// sets it).
var Version = "dev"

// ServeMetrics opens the /metrics and /status endpoint when listen is set
// (before it returns: a role is ready only with its endpoint) and returns
// a function that stops it and waits. A failure is logged, not fatal.
func ServeMetrics(ctx context.Context, exp *metrics.Exporter, listen string, log *slog.Logger) func() {
	if listen == "" {
		return func() {}
	}
	exp.SetVersion(Version)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Error("metrics endpoint failed", "listen", listen, "err", err)
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := exp.ServeListener(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("metrics endpoint failed", "listen", listen, "err", err)
		}
	}()
	log.Info("metrics", "listen", listen, "paths", "/metrics /status")
	return func() { cancel(); <-done }
}

func newExporter(role string, log *slog.Logger) *metrics.Exporter {
	exp := metrics.New(role)
	exp.SetLogger(log)
	return exp
}

// ready tells systemd (Type=notify) that the role is up.
func ready(log *slog.Logger) {
	if err := Notify("READY=1"); err != nil {
		log.Warn("could not notify systemd", "err", err)
	}
}
