package main

import (
	"context"
	"fmt"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/tunnel"
)

func init() {
	c := &command{name: "down",
		summary: "remove what a gateway added (TUN, routes, tc filters, sysctls) after it stopped or crashed; refuses while it runs (root)"}
	c.run = func(ctx context.Context, args []string) error {
		fs := flags(c)
		path := configFlag(fs)
		name := fs.String("tun", "", "TUN device `name` (default: [gateway] tun from the config)")
		stateDir := fs.String("state-dir", tunnel.DefaultStateDir, "where `up` keeps its state file")
		if _, err := parse(c, fs, args); err != nil {
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
		found, err := tunnel.Undo(*stateDir, tun)
		if err != nil {
			return err
		}
		if !found {
			fmt.Printf("nothing to remove for %s: no gateway state in %s\n", tun, *stateDir)
			return nil
		}
		fmt.Printf("removed gateway state for %s\n", tun)
		return nil
	}
	register(c)
}
