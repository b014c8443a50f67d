package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// capture sends the command's stdout and stderr to files for the test and
// returns a function reading them back.
func capture(t *testing.T) func() (stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = out, errf
	t.Cleanup(func() { os.Stdout, os.Stderr = stdout, stderr; out.Close(); errf.Close() })
	return func() (string, string) {
		o, _ := os.ReadFile(out.Name())
		e, _ := os.ReadFile(errf.Name())
		return string(o), string(e)
	}
}

// quiet sends the command's output to files nobody reads.
func quiet(t *testing.T) { capture(t) }

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	gatewayTOML = "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken = \"x\"\n"
	routeTOML   = "[[copy.route]]\nfrom = \"192.0.2.10:80\"\nto = \"198.51.100.20:80\"\n"
	// Should a check ever break, this config keeps the copier on loopback:
	// capture on lo, raw sender, no gateways.
	applianceTOML = gatewayTOML + "[copy]\ninterface = \"lo\"\nsender = \"raw\"\nclient_pool = \"10.88.0.0/26\"\n" + routeTOML
	badPool       = "[gateway]\npools = [\"10.0.0.0/33\"]\ntoken = \"x\"\n"
	badRoute      = "[[copy.route]]\nfrom = \"192.0.2.10:80\"\nto = \"nowhere\"\n"
)

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, dir, "bad.toml", badPool)
	good := write(t, dir, "good.toml", gatewayTOML)
	appliance := write(t, dir, "appliance.toml", applianceTOML)
	// A copier-only file whose gateway is a closed port on loopback.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	copierOnly := write(t, dir, "copier.toml", "[copy]\ninterface = \"lo\"\ngateways = [\""+closedAddr+"\"]\ntoken = \"x\"\n"+routeTOML)
	tests := []struct {
		name   string
		args   []string
		want   int
		stdout string // substrings of stdout and stderr ("" : not checked)
		stderr string
	}{
		{"no command", nil, 2, "", "Usage: replaygw <command>"},
		{"help", []string{"--help"}, 0, "Usage: replaygw <command>", ""},
		{"help command", []string{"help", "replay"}, 0, "Usage: replaygw replay", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "replaygw dev", ""},
		{"--version", []string{"--version"}, 0, "replaygw dev", ""},
		{"-v", []string{"-v"}, 0, "control protocol v", ""},
		{"bad flag", []string{"copy", "--no-such-flag"}, 2, "", "flag provided but not defined: -no-such-flag"},
		{"bad log level", []string{"up", "--log-level", "verbose"}, 2, "", `"verbose" is not one of debug, info, warn, error`},
		{"extra argument", []string{"up", "--config", good, "extra"}, 2, "", `replaygw up: unexpected argument "extra" (it takes flags only)`},
		{"config check good", []string{"config", "check", good}, 0, good + ": OK", ""},
		{"config check --config good", []string{"config", "check", "--config", good}, 0, "up:        gateway with TUN rgw0, pools 10.88.0.0/24, control channel :36524", ""},
		{"config check says why copy cannot run", []string{"config", "check", good}, 0, "copy:      not runnable: " + good + ": no [copy] section: the copier role needs one", ""},
		{"config check appliance", []string{"config", "check", appliance}, 0, "appliance: appliance: copier from mirror port lo, 1 route(s), sender raw", ""},
		{"config check appliance file, copy", []string{"config", "check", appliance}, 0, "copy:      not runnable: " + appliance + ":4: copy.gateways: missing", ""},
		{"config check bad", []string{"config", "check", bad}, 1, "", "gateway.pools"},
		{"config check missing", []string{"config", "check", filepath.Join(dir, "nope.toml")}, 1, "", "nope.toml"},
		{"config check two files", []string{"config", "check", good, bad}, 2, "", `unexpected argument "` + bad + `"`},
		{"config without subcommand", []string{"config"}, 2, "", "missing check [FILE] | example"},
		{"config example", []string{"config", "example"}, 0, "[gateway]", ""},
		{"config example role", []string{"config", "example", "--role", "copier"}, 0, "gateways = [", ""},
		{"config example bad role", []string{"config", "example", "--role", "both"}, 1, "", `replaygw config: --role: config: no example for role "both" (want gateway, copier or appliance)`},
		{"config example gateway role", []string{"config", "example", "--role", "gateway"}, 0, "[gateway]", ""},
		{"replay without file", []string{"replay", "--config", good}, 2, "", "missing FILE.pcap[ng][.gz]"},
		{"replay two files", []string{"replay", "a.pcap", "b.pcap"}, 2, "", `unexpected argument "b.pcap" (after FILE.pcap[ng][.gz])`},
		{"replay bad speed", []string{"replay", "--speed", "0", "x.pcap"}, 2, "", "want a factor > 0"},
		{"replay flag after file", []string{"replay", "x.pcap", "--speed", "0"}, 2, "", "want a factor > 0"},
		{"replay bad loops", []string{"replay", "--loops", "0", "x.pcap"}, 1, "", "--loops 0: want at least 1"},
		{"replay bad loops after file", []string{"replay", "x.pcap", "--loops", "0"}, 1, "", "--loops 0: want at least 1"},
		{"replay gateway-only config", []string{"replay", "--config", good, filepath.Join(dir, "bad.toml")}, 1, "", "replaygw replay: " + good + ": no [copy] section: the copier role needs one"},
		{"replay without gateways", []string{"replay", "--config", appliance, bad}, 1, "", appliance + ":4: copy.gateways: missing"},
		{"copy gateway-only config", []string{"copy", "--config", good}, 1, "", "replaygw copy: " + good + ": no [copy] section: the copier role needs one"},
		{"copy ignores [gateway]", []string{"copy", "--config", appliance}, 1, "", "replaygw copy: " + appliance + ":4: copy.gateways: missing"},
		{"up copier-only config", []string{"up", "--config", copierOnly}, 1, "", "replaygw up: " + copierOnly + ": no [gateway] section: the gateway role needs one"},
		{"appliance gateway-only config", []string{"appliance", "--config", good}, 1, "", "replaygw appliance: " + good + ": no [copy] section: the appliance role needs one"},
		{"status without metrics", []string{"status", "--config", good, "--once"}, 1, "", "[metrics] listen is empty"},
		{"status bad interval", []string{"status", "--url", "http://127.0.0.1:1/status", "--interval", "0s"}, 1, "", "--interval 0s: want more than 0"},
		{"status once unreachable", []string{"status", "--url", "http://" + closedAddr + "/status", "--once"}, 1, "", closedAddr},
		{"down without state", []string{"down", "--tun", "rgnotthere0", "--state-dir", dir}, 0, "nothing to remove for rgnotthere0: no gateway state in " + dir, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := capture(t)
			got := run(tt.args)
			stdout, stderr := read()
			if got != tt.want {
				t.Errorf("replaygw %v: exit %d, want %d\nstdout: %s\nstderr: %s", tt.args, got, tt.want, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("replaygw %v: stdout lacks %q:\n%s", tt.args, tt.stdout, stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("replaygw %v: stderr lacks %q:\n%s", tt.args, tt.stderr, stderr)
			}

		})
	}
}

// Each command reads only its sections: with both broken, it names the
// errors of its own and none of the other's.
func TestCommandsReadTheirSections(t *testing.T) {
	dir := t.TempDir()
	badBoth := write(t, dir, "badboth.toml", badPool+"[copy]\ninterface = \"lo\"\n"+badRoute)
	for _, tc := range []struct {
		args            []string
		present, absent string
	}{
		{[]string{"up", "--config", badBoth}, "gateway.pools", "copy.route"},
		{[]string{"copy", "--config", badBoth}, "copy.route[0].to", "gateway.pools"},
		{[]string{"replay", "--config", badBoth, "x.pcap"}, "copy.route[0].to", "gateway.pools"},
		{[]string{"replay", "--local-gateway", "--config", badBoth, "x.pcap"}, "gateway.pools", ""},
		{[]string{"appliance", "--config", badBoth}, "gateway.pools", ""},
		{[]string{"appliance", "--config", badBoth}, "copy.route[0].to", ""},
	} {
		read := capture(t)
		got := run(tc.args)
		_, stderr := read()
		if got != 1 || !strings.Contains(stderr, tc.present) || tc.absent != "" && strings.Contains(stderr, tc.absent) {
			t.Errorf("replaygw %v: exit %d, stderr\n%s\nwant 1, %q and not %q", tc.args, got, stderr, tc.present, tc.absent)
		}
	}
}

// Every command answers --help on stdout with status 0, with a usage line
// that lists each of its flags with its default.
func TestEveryCommandHasHelp(t *testing.T) {
	if len(commands) < 10 {
		t.Fatalf("%d commands registered, want at least 10", len(commands))
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			read := capture(t)
			if got := run([]string{c.name, "--help"}); got != 0 {
				t.Errorf("replaygw %s --help: exit %d", c.name, got)
			}
			stdout, stderr := read()
			if stderr != "" {
				t.Errorf("replaygw %s --help wrote to stderr: %s", c.name, stderr)
			}
			line, _, _ := strings.Cut(stdout, "\n")
			if !strings.HasPrefix(line, "Usage: replaygw "+c.name) {
				t.Fatalf("first line %q", line)
			}
			for _, f := range flagNames(t, c) {
				if !strings.Contains(line, "[--"+f) {
					t.Errorf("usage line %q lacks --%s", line, f)
				}
			}
		})
	}
}

// flagNames lists the flags command c defines, from its --help text.
func flagNames(t *testing.T, c *command) []string {
	t.Helper()
	read := capture(t)
	run([]string{c.name, "--help"})
	stdout, _ := read()
	_, fl, _ := strings.Cut(stdout, "\nFlags:\n")
	var names []string
	for _, l := range strings.Split(fl, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "-"); ok {
			name, _, _ = strings.Cut(strings.ReplaceAll(name, "\t", " "), " ")
			names = append(names, name)
		}
	}
	return names
}

func TestUsageLineDefaults(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--help"}, "Usage: replaygw status [--config=/etc/replaygw/replaygw.toml] [--interval=1s] [--once] [--url=]"},
		{[]string{"replay", "--help"}, "[--speed=1] [--to=0s] FILE.pcap[ng][.gz]"},
		{[]string{"replay", "--help"}, "[--local-gateway]"},
		{[]string{"config", "--help"}, "[--role=] check [FILE] | example"},
	} {
		read := capture(t)
		run(tc.args)
		stdout, _ := read()
		if line, _, _ := strings.Cut(stdout, "\n"); !strings.Contains(line, tc.want) {
			t.Errorf("replaygw %v: usage line %q lacks %q", tc.args, line, tc.want)
		}
	}
}

// status keeps trying an endpoint that does not answer (the role may be
// starting) until it is stopped, saying so each time.
func TestStatusRetries(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + closed.Addr().String() + "/status"
	closed.Close()
	read := capture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = lookup("status").run(ctx, []string{"--url", url, "--interval", "20ms"})
	_, stderr := read()
	if err != nil {
		t.Fatalf("status returned %v, want nil when stopped", err)
	}
	if n := strings.Count(stderr, url+": "); n < 3 || !strings.Contains(stderr, "retrying every 20ms") {
		t.Fatalf("%d failed fetches reported, want several with the retry interval:\n%s", n, stderr)
	}
}
