package configs

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
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

// sections is every section of the schema, as the first component of keys.
var sections = []string{"gateway", "copy", "metrics", "log", "compare"}

// roleSections is the set of sections the command of role reads; "" reads
// them all (`replaygw config check`).
func roleSections(role string) (map[string]bool, error) {
	var use []string
	switch role {
	case "", RoleAppliance:
		use = sections
	case RoleGateway:
		use = []string{"gateway", "metrics", "log", "compare"}
	case RoleCopier:
		use = []string{"copy", "metrics", "log", "compare"}
	default:
		return nil, fmt.Errorf("config: unknown role %q (want %s, %s or %s)", role, RoleGateway, RoleCopier, RoleAppliance)
	}
	m := make(map[string]bool, len(use))
	for _, s := range use {
		m[s] = true
	}
	return m, nil
}

// view drops the sections the command of role does not run.
func (c *Config) view(role string) {
	switch role {
	case RoleGateway:
		c.Copy = nil
	case RoleCopier:
		c.Gateway = nil
	}
}

// sectionOf is the schema section key belongs to, or "" for a key outside
// every section (an unknown table, the whole file).
func sectionOf(key string) string {
	name, _, _ := strings.Cut(key, ".")
	name, _, _ = strings.Cut(name, "[")
	if slices.Contains(sections, name) {
		return name
	}
	return ""
}

// checkSections reports a section the role needs and the file lacks.
func (c *Config) checkSections(ch *checker) {
	missing := func(section string) bool {
		return !ch.skip[section] && (section == "gateway" && c.Gateway == nil || section == "copy" && c.Copy == nil)
	}
	switch ch.role {
	case "":
		if missing("gateway") && missing("copy") {
			ch.errf("", "no [gateway] or [copy] section: nothing to run")
		}
	case RoleGateway, RoleCopier, RoleAppliance:
		for _, s := range []string{"gateway", "copy"} {
			if missing(s) && (ch.role == RoleAppliance || s == roleSection(ch.role)) {
				ch.errf("", "no [%s] section: the %s role needs one", s, ch.role)
			}
		}
	}
}

// roleSection is the section a single role runs.
func roleSection(role string) string {
	if role == RoleGateway {
		return "gateway"
	}
	return "copy"
}
