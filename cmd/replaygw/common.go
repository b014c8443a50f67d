package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/replaygw/replaygw/configs"
)

const defaultConfig = configs.DefaultPath

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", defaultConfig, "TOML config `file`")
}

// logLevelFlag adds --log-level to fs, accepting what [log] level accepts.
func logLevelFlag(fs *flag.FlagSet) *string {
	level := new(string)
	fs.Func("log-level", "override [log] level: "+strings.Join(configs.LogLevels, ", "), func(v string) error {
		if !slices.Contains(configs.LogLevels, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(configs.LogLevels, ", "))
		}
		*level = v
		return nil
	})
	return level
}

// newLogger builds the process logger from the [log] section; the level may
// be overridden by --log-level.
func newLogger(l configs.Log, override string) *slog.Logger {
	if override != "" {
		l.Level = override
	}
	return slog.New(l.Handler(os.Stderr))
}

// loadRole loads the config as the command of roleName reads it (only its
// sections) and builds its logger, which logs the config's warnings.
func loadRole(path, level, roleName string) (*configs.Config, *slog.Logger, error) {
	cfg, err := configs.LoadFor(path, roleName)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(cfg.Log, level)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	return cfg, log, nil
}
