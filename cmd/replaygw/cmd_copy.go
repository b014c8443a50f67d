package main

import (
	"context"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/role"
)

func init() {
	c := &command{name: "copy",
		summary: "capture client packets on the online host and replay each session to the target, from [copy] ([gateway] is ignored) (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		level := logLevelFlag(fs)
		record := fs.String("record", "", "also write every captured packet to this pcapng `file` (replay it later with `replaygw replay`)")
		iface := fs.String("interface", "", "override [copy] interface")
		if _, err := parse(c, fs, args); err != nil {
			return err
		}
		cfg, log, err := loadRole(*path, *level, configs.RoleCopier)
		if err != nil {
			return err
		}
		if cfg.Copy != nil && (*record != "" || *iface != "") {
			if *record != "" {
				cfg.Copy.Record = *record
			}
			if *iface != "" {
				cfg.Copy.Interface = *iface
			}
			if err := cfg.ValidateFor(configs.RoleCopier); err != nil {
				return err
			}
		}
		return role.RunCopier(ctx, cfg, log)
	}
	register(c)
}
