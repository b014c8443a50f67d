package main

import (
	"os"
	"path/filepath"
	"testing"
)

// quiet sends the command's stdout and stderr to a file for the test.
func quiet(t *testing.T) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = f, f
	t.Cleanup(func() { os.Stdout, os.Stderr = stdout, stderr; f.Close() })
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[gateway]\npools = [\"10.0.0.0/33\"]\ntoken = \"x\"\n"), 0o600)
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[gateway]\npools = [\"10.88.0.0/24\"]\ntoken = \"x\"\n"), 0o600)
	// Should the appliance check ever break, this config keeps the copier
	// on loopback: capture on lo, raw sender, no gateways.
	appliance := filepath.Join(dir, "appliance.toml")
	os.WriteFile(appliance, []byte("[gateway]\npools = [\"10.88.0.0/24\"]\ntoken = \"x\"\n"+
		"[copy]\ninterface = \"lo\"\nsender = \"raw\"\n[[copy.route]]\nfrom = \"127.0.0.1:1\"\nto = \"127.0.0.2:1\"\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, 2},
		{"help", []string{"--help"}, 0},
		{"unknown command", []string{"frobnicate"}, 2},
		{"version", []string{"version"}, 0},
		{"--version", []string{"--version"}, 0},
		{"bad flag", []string{"copy", "--no-such-flag"}, 2},
		{"config check good", []string{"config", "check", good}, 0},
		{"config check --config good", []string{"config", "check", "--config", good}, 0},
		{"config check bad", []string{"config", "check", bad}, 1},
		{"config check missing", []string{"config", "check", filepath.Join(dir, "nope.toml")}, 1},
		{"config without subcommand", []string{"config"}, 2},
		{"config example", []string{"config", "example"}, 0},
		{"replay without file", []string{"replay", "--config", good}, 2},
		{"replay bad speed", []string{"replay", "--speed", "0", "x.pcap"}, 2},
		{"replay bad loops", []string{"replay", "--loops", "0", "x.pcap"}, 1},
		{"replay gateway-only config", []string{"replay", "--config", good, "x.pcap"}, 1},
		{"copy gateway-only config", []string{"copy", "--config", good}, 1},
		{"copy appliance config", []string{"copy", "--config", appliance}, 1},
		{"status without metrics", []string{"status", "--config", good, "--once"}, 1},
		{"down without state", []string{"down", "--tun", "rgnotthere0", "--state-dir", dir}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quiet(t)
			if got := run(tt.args); got != tt.want {
				t.Errorf("replaygw %v: exit %d, want %d", tt.args, got, tt.want)
			}
		})
	}
}

// Every command answers --help with status 0.
func TestEveryCommandHasHelp(t *testing.T) {
	if len(commands) < 9 {
		t.Fatalf("%d commands registered, want at least 9", len(commands))
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			quiet(t)
			if got := run([]string{c.name, "--help"}); got != 0 {
				t.Errorf("replaygw %s --help: exit %d", c.name, got)
			}
		})
	}
}
