package main

import (
	"context"
	"fmt"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/tunnel"
)

func init() {
	c := &command{name: "down", usage: "[--config FILE] [--tun NAME]",
		summary: "remove what a gateway added (TUN, routes, tc filters, sysctls), e.g. after a crash (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		name := fs.String("tun", "", "TUN device name (default: [gateway] tun from the config)")
		stateDir := fs.String("state-dir", tunnel.DefaultStateDir, "where `up` keeps its state file")
		if err := parse(fs, args); err != nil {
			return err
		}
		tun := *name
		if tun == "" {
			cfg, err := configs.Load(*path)
			if err != nil {
				return fmt.Errorf("%w (or pass --tun NAME)", err)
			}
			if cfg.Gateway == nil {
				return fmt.Errorf("%s has no [gateway] section; pass --tun NAME", *path)
			}
			tun = cfg.Gateway.TUN
		}
		if err := tunnel.Down(*stateDir, tun); err != nil {
			return err
		}
		fmt.Printf("removed gateway state for %s\n", tun)
		return nil
	}
	register(c)
}
