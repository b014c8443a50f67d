package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/role"
)

func init() {
	registerRole("appliance", configs.RoleAppliance, "run both roles in one process on the assistant host from [gateway] and [copy]: capture on the mirror port (or play copy.source once), responses in-process (root)",
		func(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
			if _, err := role.Check(cfg, role.CmdAppliance); err != nil || !cfg.Copy.FromFile() {
				return role.RunAppliance(ctx, cfg, log) // it reports what Check found
			}
			return replayFile(ctx, cfg, log, cfg.Copy.Source, replayFlags{speed: 1, loops: 1, drain: 10 * time.Second, local: true})
		})
}
