package main

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/metrics"
	"github.com/replaygw/replaygw/privdrop"
)

func init() {
	c := &command{name: "copy", usage: "[--config FILE] [--record FILE.pcapng]",
		summary: "capture client packets on the online host and replay each session to the target (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		level := fs.String("log-level", "", "override [log] level: debug, info, warn, error")
		record := fs.String("record", "", "also write every captured packet to this pcapng `file` (replay it later with `replaygw replay`)")
		iface := fs.String("interface", "", "override [copy] interface")
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, err := configs.Load(*path)
		if err != nil {
			return err
		}
		if cfg.Copy == nil {
			return fmt.Errorf("%s has no [copy] section (`copy` runs on the online host; the assistant host runs `replaygw up`)", *path)
		}
		if *record != "" {
			cfg.Copy.Record = *record
		}
		if *iface != "" {
			cfg.Copy.Interface = *iface
		}
		if cfg.Appliance() {
			return fmt.Errorf("%s has both [gateway] and [copy]: that is the one-host appliance, run `replaygw up` (the online host's file needs only [copy])", *path)
		}
		if cfg.Copy.FromFile() {
			return fmt.Errorf("%s: copy.source is a file (%s): use `replaygw replay` for files", *path, cfg.Copy.Source)
		}
		if cfg.Copy.Workers == 0 {
			cfg.Copy.Workers = configs.DefaultCopyWorkers
		}
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.GOMAXPROCS(cfg.Copy.Workers)
		}
		log := newLogger(cfg.Log, *level)
		warn(log, cfg)
		exp := metrics.New("copier")
		exp.SetLogger(log)
		cp, err := openCopier(cfg, exp, log, copier.Options{})
		if err != nil {
			return err
		}
		defer cp.Close()
		// The capture ring and the raw socket are open: nothing needs a
		// capability any more.
		if err := privdrop.Keep(); err != nil {
			log.Warn("could not drop capabilities", "err", err)
		}
		stop := serveMetrics(ctx, exp, cfg.Metrics.Listen, log)
		defer stop()
		log.Info("copier running", "interface", cfg.Copy.Interface, "routes", len(cfg.Copy.Routes),
			"gateways", cfg.Copy.Gateways, "copies", cfg.Copy.Copies, "workers", cfg.Copy.Workers,
			"cpus", runtime.GOMAXPROCS(0), "capabilities", privdrop.Effective())
		return cp.Run(ctx)
	}
	register(c)
}
