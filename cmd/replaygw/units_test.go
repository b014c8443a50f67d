package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/tunnel"
)

// unitKeys reads the [Service] keys of a systemd unit (a key given more
// than once keeps its values space-joined).
func unitKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	section := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = l
		case section == "[Service]":
			k, v, _ := strings.Cut(l, "=")
			keys[k] = strings.TrimSpace(keys[k] + " " + v)
		}
	}
	return keys
}

// The units in configs/ and the daemon agree: each runs its role's command
// on the default config and is Type=notify (the role sends READY=1), the
// runtime directory is the tunnel's state dir, and the capabilities are
// the ones the roles keep and need.
func TestUnitsMatchTheDaemon(t *testing.T) {
	stateDir := strings.TrimPrefix(tunnel.DefaultStateDir, "/run/")
	for _, tc := range []struct {
		unit, cmd string
		down      bool // runs `down` after the process is gone
	}{
		{"replaygw-gateway.service", "up", true},
		{"replaygw-copy.service", "copy", false},
		{"replaygw-appliance.service", "appliance", true},
	} {
		t.Run(tc.unit, func(t *testing.T) {
			k := unitKeys(t, filepath.Join("..", "..", "configs", tc.unit))
			if lookup(tc.cmd) == nil {
				t.Fatalf("no command %q", tc.cmd)
			}
			if want := "/usr/local/bin/replaygw " + tc.cmd + " --config " + configs.DefaultPath; k["ExecStart"] != want {
				t.Errorf("ExecStart=%s, want %s", k["ExecStart"], want)
			}
			if want := "/usr/local/bin/replaygw config check " + configs.DefaultPath; k["ExecStartPre"] != want {
				t.Errorf("ExecStartPre=%s, want %s", k["ExecStartPre"], want)
			}
			if k["Type"] != "notify" || k["NotifyAccess"] != "main" {
				t.Errorf("Type=%s NotifyAccess=%s, want notify and main", k["Type"], k["NotifyAccess"])
			}
			if k["RuntimeDirectory"] != stateDir || k["ReadWritePaths"] != tunnel.DefaultStateDir {
				t.Errorf("RuntimeDirectory=%s ReadWritePaths=%s, want %s and %s", k["RuntimeDirectory"], k["ReadWritePaths"], stateDir, tunnel.DefaultStateDir)
			}
			if tc.down {
				if want := "/usr/local/bin/replaygw down --config " + configs.DefaultPath; k["ExecStopPost"] != want {
					t.Errorf("ExecStopPost=%s, want %s", k["ExecStopPost"], want)
				}
				if k["RuntimeDirectoryPreserve"] != "yes" {
					t.Errorf("RuntimeDirectoryPreserve=%s: `down` needs the state after a crash", k["RuntimeDirectoryPreserve"])
				}
			}
			for _, key := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
				if k[key] != "CAP_NET_ADMIN CAP_NET_RAW" {
					t.Errorf("%s=%s, want CAP_NET_ADMIN CAP_NET_RAW", key, k[key])
				}
			}
			if !strings.Contains(k["DeviceAllow"], "/dev/net/tun") {
				t.Errorf("DeviceAllow=%s lacks /dev/net/tun", k["DeviceAllow"])
			}
			if !strings.Contains(k["RestrictAddressFamilies"], "AF_UNIX") {
				t.Errorf("RestrictAddressFamilies=%s: sd_notify needs AF_UNIX", k["RestrictAddressFamilies"])
			}
		})
	}
}
