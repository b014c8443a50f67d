package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/privdrop"
)

func init() {
	c := &command{name: "up", usage: "[--config FILE]",
		summary: "run the gateway on the assistant host: TUN + netstack black hole for the client pools (root); with both [gateway] and [copy], the one-host appliance"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		level := fs.String("log-level", "", "override [log] level: debug, info, warn, error")
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, err := configs.Load(*path)
		if err != nil {
			return err
		}
		if cfg.Gateway == nil {
			return fmt.Errorf("%s has no [gateway] section (`up` runs the gateway; the online host runs `replaygw copy`)", *path)
		}
		log := newLogger(cfg.Log, *level)
		warn(log, cfg)
		if cfg.Appliance() {
			return runAppliance(ctx, cfg, log)
		}
		return runGateway(ctx, cfg, log)
	}
	register(c)
}

func warn(log *slog.Logger, cfg *configs.Config) {
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
}

func runGateway(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	gw, err := gateway.NewGateway(cfg.Gateway, log)
	if err != nil {
		return err
	}
	// Teardown removes routes and filters, which needs CAP_NET_ADMIN; the
	// rest (raw sockets, file access beyond our own) is no longer needed.
	if err := privdrop.Keep(privdrop.NetAdmin); err != nil {
		log.Warn("could not drop capabilities", "err", err)
	}
	log.Debug("capabilities after setup", "effective", privdrop.Effective())
	exp := metrics.New("gateway")
	exp.SetLogger(log)
	exp.Add(gw.Counters()...)
	stopMetrics := serveMetrics(ctx, exp, cfg.Metrics.Listen, log)
	defer stopMetrics()
	return gw.Run(ctx)
}

// serveMetrics starts the /metrics and /status endpoint when configured and
// returns a function that waits for it to stop.
func serveMetrics(ctx context.Context, exp *metrics.Exporter, listen string, log *slog.Logger) func() {
	if listen == "" {
		return func() {}
	}
	exp.SetVersion(version)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := exp.Serve(ctx, listen); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("metrics endpoint failed", "listen", listen, "err", err)
		}
	}()
	log.Info("metrics", "listen", listen, "paths", "/metrics /status")
	return func() { cancel(); <-done }
}
