package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/metrics"
)

func init() {
	c := &command{name: "status",
		summary: "show a live one-screen summary of a running copier or gateway (from its [metrics] endpoint); keeps retrying while it is unreachable"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		url := fs.String("url", "", "status endpoint (default: http://<[metrics] listen>/status)")
		once := fs.Bool("once", false, "print one summary and exit (a failed fetch is an error)")
		every := fs.Duration("interval", time.Second, "refresh interval, > 0")
		if _, err := parse(c, fs, args); err != nil {
			return err
		}
		if *every <= 0 {
			return fmt.Errorf("--interval %s: want more than 0", *every)
		}
		u := *url
		if u == "" {
			cfg, err := configs.Load(*path)
			if err != nil {
				return err
			}
			if cfg.Metrics.Listen == "" {
				return fmt.Errorf("%s: [metrics] listen is empty, so no status endpoint runs; set it or pass --url", *path)
			}
			host := cfg.Metrics.Listen
			if strings.HasPrefix(host, ":") {
				host = "127.0.0.1" + host
			}
			u = "http://" + host + "/status"
		}
		var prev *metrics.Status
		for {
			cur, err := metrics.FetchStatus(u)
			switch {
			case err != nil && *once:
				return fmt.Errorf("%s: %w (is the role running with [metrics] listen set?)", u, err)
			case err != nil:
				fmt.Fprintf(os.Stderr, "replaygw status: %s: %v (is the role running with [metrics] listen set?); retrying every %s\n", u, err, *every)
			default:
				if !*once {
					fmt.Print("\033[H\033[2J")
				}
				if err := metrics.RenderStatus(os.Stdout, prev, cur); err != nil {
					return err
				}
				if *once {
					return nil
				}
				prev = cur
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(*every):
			}
		}
	}
	register(c)
}
