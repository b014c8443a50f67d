package main

import (
	"flag"
	"log/slog"
	"os"
	"strings"

	"github.com/replaygw/replaygw/configs"
)

const defaultConfig = configs.DefaultPath

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", defaultConfig, "TOML config `file`")
}

// newLogger builds the process logger from the [log] section; the level may
// be overridden by --log-level.
var logDefaults = configs.Log{Level: "info", Format: "text"}

func newLogger(l configs.Log, override string) *slog.Logger {
	level := l.Level
	if override != "" {
		level = override
	}
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if strings.EqualFold(l.Format, "json") {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
