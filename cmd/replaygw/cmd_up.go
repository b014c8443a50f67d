package main

import (
	"context"
	"log/slog"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/role"
)

func init() {
	registerRole("up", configs.RoleGateway, "run the gateway on the assistant host from [gateway] ([copy] is ignored): TUN + netstack black hole for the client pools (root)",
		role.RunGateway)
}

// registerRole registers a command that loads the config (--config,
// --log-level) as roleName reads it and runs the role until it is stopped.
func registerRole(name, roleName, summary string, run func(context.Context, *configs.Config, *slog.Logger) error) {
	c := &command{name: name, summary: summary}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		level := logLevelFlag(fs)
		if _, err := parse(c, fs, args); err != nil {
			return err
		}
		cfg, log, err := loadRole(*path, *level, roleName)
		if err != nil {
			return err
		}
		return run(ctx, cfg, log)
	}
	register(c)
}
