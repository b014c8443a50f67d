package main

import (
	"context"
	"os"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/doctor"
)

func init() {
	c := &command{name: "doctor",
		summary: "check this host's setup for its role and print PASS/WARN/FAIL with the exact fix, including an active probe (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		asJSON := fs.Bool("json", false, "print the checks as JSON")
		if _, err := parse(c, fs, args); err != nil {
			return err
		}
		cfg, err := configs.Load(*path)
		if err != nil {
			return err
		}
		checks := doctor.Run(ctx, cfg)
		if *asJSON {
			err = doctor.JSON(os.Stdout, checks)
		} else {
			err = doctor.Print(os.Stdout, checks)
		}
		if err != nil {
			return err
		}
		if doctor.Failed(checks) {
			return errChecksFailed
		}
		return nil
	}
	register(c)
}
