package configs

import (
	"io"
	"log/slog"
)

// Roles a config can run as.
const (
	RoleGateway   = "gateway"
	RoleCopier    = "copier"
	RoleAppliance = "appliance"
)

// Role is what the config runs: "gateway" ([gateway] only), "copier"
// ([copy] only), "appliance" (both) or "" (neither).
func (c *Config) Role() string {
	switch {
	case c.Gateway != nil && c.Copy != nil:
		return RoleAppliance
	case c.Gateway != nil:
		return RoleGateway
	case c.Copy != nil:
		return RoleCopier
	}
	return ""
}

// Appliance reports whether one process plays both roles: the copier sends
// into the gateway's TUN and gets the responses in-process.
func (c *Config) Appliance() bool { return c.Gateway != nil && c.Copy != nil }

// SlogLevel is Level as a slog.Level; info for an unknown level.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Handler is a slog handler writing to w in Format at Level.
func (l Log) Handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
