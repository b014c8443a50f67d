package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/report"
)

func init() {
	c := &command{name: "report",
		summary: "summarize a comparison run ([compare] store): a text summary, --json for machines, --html FILE for one self-contained page with plots"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		fs.StringVar(path, "c", defaultConfig, "short for --config")
		asJSON := fs.Bool("json", false, "print the summary as JSON on stdout (exchanges, differing, by_kind, latency_ms, endpoints, ...)")
		page := fs.String("html", "", "write the HTML report to `FILE` (latency CDFs, diff and error rates over time, endpoints, examples)")
		dir := fs.String("store", "", "a run's results `DIR`, or a store holding runs (the latest is read); default: [compare] store of the config")
		top := fs.Int("top", 15, "endpoint rows of the text summary and the page")
		if _, err := parse(c, fs, args); err != nil {
			return err
		}
		if *top <= 0 {
			return fmt.Errorf("--top %d: want at least 1", *top)
		}
		from := *dir
		if from == "" {
			cfg, err := configs.Load(*path)
			if err != nil {
				return fmt.Errorf("%w (or pass --store DIR)", err)
			}
			from = configs.DefaultCompareStore
			if cfg.Compare != nil && cfg.Compare.Store != "" {
				from = cfg.Compare.Store
			}
		}
		run, err := report.Run(from)
		if err != nil {
			return err
		}
		s, err := report.Build(run)
		if err != nil {
			return fmt.Errorf("%s: %w", run, err)
		}
		if s.Exchanges == 0 {
			return fmt.Errorf("%s: empty store: the run compared no exchanges (are the routes compared, and did the replay reach the target?)", run)
		}
		if *page != "" {
			if err := writePage(*page, s, *top); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "replaygw report: wrote %s from %s\n", *page, run)
		}
		switch {
		case *asJSON:
			return report.WriteJSON(os.Stdout, s)
		case *page == "":
			fmt.Printf("run        %s\n", run)
			return report.WriteText(os.Stdout, s, *top)
		}
		return nil
	}
	register(c)
}

// writePage writes the HTML report to path.
func writePage(path string, s *report.Summary, top int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	err = report.WriteHTML(f, s, report.HTMLOptions{TopN: top, Generated: time.Now()})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("--html: %w", cerr)
	}
	return err
}
