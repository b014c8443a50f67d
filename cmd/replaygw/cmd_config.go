package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/replaygw/replaygw/configs"
)

func init() {
	c := &command{name: "config", usage: "check [--config FILE | FILE] | example",
		summary: "validate a config without touching the system, or print the annotated example"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		sub := ""
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			sub, args = args[0], args[1:]
		}
		if err := parse(fs, args); err != nil {
			return err
		}
		switch sub {
		case "check":
			p := *path
			if fs.NArg() > 0 {
				p = fs.Arg(0)
			}
			cfg, err := configs.Load(p)
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings {
				fmt.Fprintf(os.Stderr, "warning: %s\n", w)
			}
			fmt.Printf("%s: OK (role: %s)\n", p, cfg.Role())
			return nil
		case "example":
			os.Stdout.Write(configs.Example)
			return nil
		case "":
			fs.Usage()
			return errUsage
		}
		return fmt.Errorf("unknown subcommand %q (want check or example)", sub)
	}
	register(c)
}
