package main

import (
	"context"
	"os"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/lab"
)

func init() {
	c := &command{name: "demo",
		summary: "run the self-contained lab: namespaces, built-in HTTP servers, gateway and copier, a bounded load and a live table (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		dur := fs.Duration("duration", 10*time.Second, "how long to drive the load")
		rate := fs.Float64("rate", 500, "requests per second from the lab's clients")
		minOK := fs.Float64("min-success", 99, "fail when fewer than this percent of requests reach the target")
		keep := fs.Bool("keep-logs", false, "keep the lab's config and the roles' logs")
		verbose := fs.Bool("v", false, "log what the lab does")
		if _, err := parse(c, fs, args); err != nil {
			return err
		}
		opts := lab.DemoOptions{Duration: *dur, Rate: *rate, MinSuccess: *minOK, KeepLogs: *keep}
		if *verbose {
			opts.Logger = newLogger(configs.Log{Format: configs.DefaultLogFormat}, "debug")
		}
		return lab.RunDemo(ctx, opts, os.Stdout)
	}
	register(c)
}
