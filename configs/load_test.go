package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Valid sections the cases below extend. Line numbers in the cases count
// from the start of the whole text.
const (
	gwOK = `[gateway]
pools = ["10.88.0.0/24"]
token = "t0ken-0123456789abcdef"
` // 3 lines
	copyOK = `[copy]
interface = "eth0"
gateways = ["10.0.0.40:36524"]
token = "t0ken-0123456789abcdef"
[[copy.route]]
from = "10.0.0.20:80"
to = "10.0.0.30:80"
` // 7 lines
)

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty-token")
	if err := os.WriteFile(emptyFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missingFile := filepath.Join(dir, "no-such-token")

	cases := []struct {
		name string
		text string
		line int    // 0: no line in the message
		key  string // "" : no key
		msg  string
	}{
		// Syntax and types, from the TOML decoder.
		{"syntax", gwOK + "mtu = \n", 4, "gateway.mtu", "expected value"},
		{"type int", gwOK + "queues = \"four\"\n", 4, "gateway.queues", `must be an integer, not a string ("four")`},
		{"type in 2nd route", copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:81\"\nto = 5\n", 10, "copy.route[1].to", "must be a string in quotes, e.g. to = \"...\", not an integer (5)"},
		{"duration no unit", gwOK + "hold_early = \"2\"\n", 4, "gateway.hold_early", `duration "2" has no unit`},
		{"duration int", gwOK + "lease_ttl = 300\n", 4, "gateway.lease_ttl", "has no unit"},
		{"duration garbage", "[copy]\nidle_timeout = \"soon\"\n", 2, "copy.idle_timeout", `invalid duration "soon"`},
		{"size unit", "[copy]\nmemory_limit = \"12XB\"\n", 2, "copy.memory_limit", `invalid size "12XB"`},
		{"size negative", "[copy]\nsession_buffer = -1\n", 2, "copy.session_buffer", "negative"},

		// Unknown keys.
		{"unknown section", gwOK + "[gatway]\ntun = \"x\"\n", 4, "gatway", `unknown key "gatway"; did you mean "gateway"?`},
		{"unknown key", gwOK + "tunn = \"x\"\n", 4, "gateway.tunn", `did you mean "tun"?`},
		{"unknown key case", gwOK + "MTU = 1400\n", 4, "gateway.MTU", `did you mean "mtu"?`},
		{"unknown parsed field", gwOK + "secret = \"x\"\n", 4, "gateway.secret", `unknown key "secret"`},
		{"unknown top", "path = \"x\"\n" + gwOK, 1, "path", `unknown key "path"`},
		{"unknown in route", copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:81\"\ntoo = \"10.0.0.30:81\"\n", 10, "copy.route[1].too", `did you mean "to"?`},
		{"table for a value", gwOK + "[gateway.tun]\nx = 1\n", 4, "gateway.tun", "must be a string in quotes, e.g. tun = \"...\", not a table"},
		{"route as a table", "[copy]\n[copy.route]\nfrom = \"10.0.0.20:80\"\n", 2, "copy.route", "must be a list of tables: use [[copy.route]] (two brackets)"},
		{"gateways not a list", strings.Replace(copyOK, `["10.0.0.40:36524"]`, `"10.0.0.40:36524"`, 1), 3, "copy.gateways", `must be a list, e.g. gateways = ["10.0.0.40:36524"], not a string`},
		{"pools element", "[gateway]\ntoken = \"x\"\npools = [\"10.88.0.0/24\", 7]\n", 3, "gateway.pools[1]", "must be a string in quotes"},
		{"section not a table", "gateway = 5\n", 1, "gateway", "must be a table ([gateway]), not an integer (5)"},
		{"bool quoted", gwOK + "answer_ping = \"yes\"\n", 4, "gateway.answer_ping", "must be true or false (no quotes)"},
		{"int as float", gwOK + "mtu = 1500.0\n", 4, "gateway.mtu", "must be an integer, not a float (1500)"},
		{"duration table", gwOK + "hold_early = {s = 2}\n", 4, "gateway.hold_early", "must be a string in quotes (e.g. \"2s\""},
		{"unknown inline", "[copy]\nroute = [{from = \"10.0.0.20:80\", to = \"10.0.0.30:80\"},\n  {from = \"10.0.0.21:80\", port = 1}]\n", 3, "copy.route[1].port", `unknown key "port"`},

		// [gateway]
		{"no sections", "[metrics]\nlisten = \":9257\"\n", 0, "", "no [gateway] or [copy] section"},
		{"pools missing", "[gateway]\ntoken = \"x\"\n", 1, "gateway.pools", "missing"},
		{"pools empty", "[gateway]\ntoken = \"x\"\npools = []\n", 3, "gateway.pools", "missing"},
		{"pool bad cidr", "[gateway]\ntoken = \"x\"\npools = [\"10.88.0.0/33\"]\n", 3, "gateway.pools[0]", `"10.88.0.0/33" is not a CIDR`},
		{"pool not cidr", "[gateway]\ntoken = \"x\"\npools = [\"10.88.0.1\"]\n", 3, "gateway.pools[0]", "is not a CIDR"},
		{"pool host bits", "[gateway]\ntoken = \"x\"\npools = [\"10.88.0.1/24\"]\n", 3, "gateway.pools[0]", `did you mean "10.88.0.0/24"?`},
		{"pool everything", "[gateway]\ntoken = \"x\"\npools = [\"::/0\"]\n", 3, "gateway.pools[0]", "every address"},
		{"pools overlap", "[gateway]\ntoken = \"x\"\npools = [\n  \"10.88.0.0/24\",\n  \"10.99.0.0/16\",\n  \"10.88.0.128/25\",\n]\n", 6, "gateway.pools[2]", "10.88.0.128/25 overlaps gateway.pools[0] (10.88.0.0/24)"},
		{"pool 4in6", "[gateway]\ntoken = \"x\"\npools = [\"::ffff:10.0.0.0/120\"]\n", 3, "gateway.pools[0]", "IPv4-mapped"},
		{"pool zone", "[gateway]\ntoken = \"x\"\npools = [\"fe80::%eth0/64\"]\n", 3, "gateway.pools[0]", "is not a CIDR"},
		{"pools overlap v6", "[gateway]\ntoken = \"x\"\npools = [\"fd00::/64\", \"fd00::/48\"]\n", 3, "gateway.pools[1]", "overlaps gateway.pools[0]"},
		{"token missing", "[gateway]\npools = [\"10.88.0.0/24\"]\n", 1, "gateway.token", "missing: set token or token_file"},
		{"token empty", "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken = \"\"\n", 3, "gateway.token", "token is empty"},
		{"token blank", "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken = \"  \t\"\n", 3, "gateway.token", "token is blank"},
		{"token_file empty name", "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken_file = \"\"\n", 3, "gateway.token_file", "token_file is empty"},
		{"token and file", gwOK + "token_file = \"/etc/x\"\n", 4, "gateway.token_file", "both token and token_file"},
		{"token_file unreadable", "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken_file = \"" + missingFile + "\"\n", 3, "gateway.token_file", `cannot read token file "` + missingFile + `": no such file`},
		{"token_file empty", "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken_file = \"" + emptyFile + "\"\n", 3, "gateway.token_file", `token file "` + emptyFile + `" is empty`},
		{"tun name", gwOK + "tun = \"a-very-long-tun-name\"\n", 4, "gateway.tun", "not a valid interface name"},
		{"tun empty", gwOK + "tun = \"\"\n", 4, "gateway.tun", "missing"},
		{"ingress", gwOK + "ingress = \"eth 0\"\n", 4, "gateway.ingress", "not a valid interface name"},
		{"listen bad", gwOK + "listen = \"36524\"\n", 4, "gateway.listen", "not host:port"},
		{"listen port", gwOK + "listen = \":99999\"\n", 4, "gateway.listen", "not a number in 1..65535"},
		{"listen empty", gwOK + "listen = \"\"\n", 4, "gateway.listen", "missing"},
		{"queues 0", gwOK + "queues = 0\n", 4, "gateway.queues", "0 is out of range 1..16"},
		{"queues 17", gwOK + "queues = 17\n", 4, "gateway.queues", "17 is out of range 1..16"},
		{"cpus 0", gwOK + "cpus = 0\n", 4, "gateway.cpus", "0 is out of range 1..1024"},
		{"cpus 1025", gwOK + "cpus = 1025\n", 4, "gateway.cpus", "1025 is out of range 1..1024"},
		{"mtu low", gwOK + "mtu = 575\n", 4, "gateway.mtu", "575 is out of range 576..65535"},
		{"mtu high", gwOK + "mtu = 65536\n", 4, "gateway.mtu", "out of range"},
		{"mtu ipv6", "[gateway]\npools = [\"fd00::/64\"]\ntoken = \"x\"\nmtu = 1000\n", 4, "gateway.mtu", "IPv6 minimum"},
		{"txqueuelen", gwOK + "txqueuelen = -1\n", 4, "gateway.txqueuelen", "negative"},
		{"redirect", gwOK + "redirect = \"nat\"\n", 4, "gateway.redirect", `"nat" is not one of auto, tc, forwarding`},
		{"payload_cap", gwOK + "payload_cap = 1025\n", 4, "gateway.payload_cap", "1025 is out of range 0..1024"},
		{"payload_cap neg", gwOK + "payload_cap = -1\n", 4, "gateway.payload_cap", "out of range"},
		{"hold_early zero", gwOK + "hold_early = \"0s\"\n", 4, "gateway.hold_early", "must be greater than 0"},
		{"lease_ttl neg", gwOK + "lease_ttl = \"-5m\"\n", 4, "gateway.lease_ttl", "must be greater than 0"},
		{"route_ttl renamed", gwOK + "route_ttl = \"5m\"\n", 4, "gateway.route_ttl", `"route_ttl" was renamed to "lease_ttl"`},
		{"copier_queue", gwOK + "copier_queue = 0\n", 4, "gateway.copier_queue", "at least 1"},

		// [copy]
		{"route missing", copyOK[:strings.Index(copyOK, "[[")], 1, "copy.route", "missing: at least one [[copy.route]]"},
		{"route to not addr:port", copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:81\"\nto = \"10.0.0.1\"\n", 10, "copy.route[1].to", `"10.0.0.1" is not addr:port`},
		{"route from hostname", copyOK + "[[copy.route]]\nfrom = \"web:80\"\nto = \"10.0.0.1:80\"\n", 9, "copy.route[1].from", "is not addr:port"},
		{"route to missing", copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:81\"\n", 8, "copy.route[1].to", "missing"},
		{"route port 0", copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:0\"\nto = \"10.0.0.1:80\"\n", 9, "copy.route[1].from", "port 0"},
		{"route family", copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:81\"\nto = \"[2001:db8::1]:81\"\n", 10, "copy.route[1].to", "cannot change address family"},
		{"route duplicate", copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:80\"\nto = \"10.0.0.31:80\"\n", 9, "copy.route[1].from", "already replayed by copy.route[0]"},
		{"gateways missing", strings.Replace(copyOK, "gateways = [\"10.0.0.40:36524\"]\n", "", 1), 1, "copy.gateways", "missing"},
		{"gateway no port", strings.Replace(copyOK, "10.0.0.40:36524", "10.0.0.40", 1), 3, "copy.gateways[0]", "not host:port"},
		{"gateway no host", strings.Replace(copyOK, "10.0.0.40:36524", ":36524", 1), 3, "copy.gateways[0]", "has no host"},
		{"gateway twice", strings.Replace(copyOK, `"10.0.0.40:36524"`, `"gw:1", "gw:1"`, 1), 3, "copy.gateways[1]", "listed twice"},
		{"interface missing", strings.Replace(copyOK, "interface = \"eth0\"\n", "", 1), 1, "copy.interface", "missing"},
		{"copy token missing", strings.Replace(copyOK, "token = \"t0ken-0123456789abcdef\"\n", "", 1), 1, "copy.token", "missing"},
		{"copy token empty", strings.Replace(copyOK, "\"t0ken-0123456789abcdef\"", "\"\"", 1), 4, "copy.token", "empty"},
		{"copy token both", strings.Replace(copyOK, "[[copy.route]]", "token_file = \"x\"\n[[copy.route]]", 1), 5, "copy.token_file", "both token and token_file"},
		{"copies 0 explicit", strings.Replace(copyOK, "[[copy.route]]", "copies = 0\n[[copy.route]]", 1), 5, "copy.copies", "0 is out of range 1..64"},
		{"copies 65", strings.Replace(copyOK, "[[copy.route]]", "copies = 65\n[[copy.route]]", 1), 5, "copy.copies", "65 is out of range 1..64"},
		{"sample 0", strings.Replace(copyOK, "[[copy.route]]", "sample_percent = 0\n[[copy.route]]", 1), 5, "copy.sample_percent", "0 is outside (0, 100]"},
		{"sample 100.5", strings.Replace(copyOK, "[[copy.route]]", "sample_percent = 100.5\n[[copy.route]]", 1), 5, "copy.sample_percent", "outside (0, 100]"},
		{"sample nan", strings.Replace(copyOK, "[[copy.route]]", "sample_percent = nan\n[[copy.route]]", 1), 5, "copy.sample_percent", "outside (0, 100]"},
		{"client_pool bad", strings.Replace(copyOK, "[[copy.route]]", "client_pool = \"10.88.0.0\"\n[[copy.route]]", 1), 5, "copy.client_pool", "not a CIDR"},
		{"client_pool family", strings.Replace(copyOK, "[[copy.route]]", "client_pool = \"fd00:88::/112\"\n[[copy.route]]", 1), 5, "copy.client_pool", "fd00:88::/112 is IPv6 but copy.route[0].to 10.0.0.30:80 is IPv4"},
		{"source empty", strings.Replace(copyOK, "[[copy.route]]", "source = \"\"\n[[copy.route]]", 1), 5, "copy.source", "empty"},
		{"sender", strings.Replace(copyOK, "[[copy.route]]", "sender = \"udp\"\n[[copy.route]]", 1), 5, "copy.sender", `"udp" is not one of raw, tun, l2`},
		{"sender l2 no iface", strings.Replace(copyOK, "[[copy.route]]", "sender = \"l2\"\n[[copy.route]]", 1), 1, "copy.send_interface", "missing"},
		{"sender tun no iface", strings.Replace(copyOK, "[[copy.route]]", "sender = \"tun\"\n[[copy.route]]", 1), 1, "copy.send_interface", "missing"},
		{"next_hop_mac", strings.Replace(copyOK, "[[copy.route]]", "next_hop_mac = \"02:42:zz:11:00:02\"\n[[copy.route]]", 1), 5, "copy.next_hop_mac", "not a MAC address"},
		{"workers", strings.Replace(copyOK, "[[copy.route]]", "workers = 0\n[[copy.route]]", 1), 5, "copy.workers", "out of range"},
		{"memory_limit 0", strings.Replace(copyOK, "[[copy.route]]", "memory_limit = 0\n[[copy.route]]", 1), 5, "copy.memory_limit", "greater than 0"},
		{"session_buffer big", strings.Replace(copyOK, "[[copy.route]]", "memory_limit = \"1MiB\"\nsession_buffer = \"2MiB\"\n[[copy.route]]", 1), 6, "copy.session_buffer", "2MiB is larger than memory_limit (1MiB)"},
		{"rate_limit", strings.Replace(copyOK, "[[copy.route]]", "rate_limit = -5\n[[copy.route]]", 1), 5, "copy.rate_limit", "negative"},
		{"idle_timeout", strings.Replace(copyOK, "[[copy.route]]", "idle_timeout = \"0s\"\n[[copy.route]]", 1), 5, "copy.idle_timeout", "greater than 0"},
		{"time_wait neg", strings.Replace(copyOK, "[[copy.route]]", "time_wait = \"-1s\"\n[[copy.route]]", 1), 5, "copy.time_wait", "negative"},
		{"mss", strings.Replace(copyOK, "[[copy.route]]", "mss = 40\n[[copy.route]]", 1), 5, "copy.mss", "40 is out of range 88..65495"},
		{"payload_bytes", strings.Replace(copyOK, "[[copy.route]]", "payload_bytes = 2048\n[[copy.route]]", 1), 5, "copy.payload_bytes", "out of range 0..1024"},
		{"ledger_max_size", strings.Replace(copyOK, "[[copy.route]]", "ledger_max_size = 0\n[[copy.route]]", 1), 5, "copy.ledger_max_size", "greater than 0"},
		{"record over source", strings.Replace(copyOK, "[[copy.route]]", "source = \"/tmp/x.pcap\"\nrecord = \"/tmp/x.pcap\"\n[[copy.route]]", 1), 6, "copy.record", "overwrite"},

		// Appliance.
		{"appliance client_pool outside", gwOK + strings.Replace(copyOK, "[[copy.route]]", "client_pool = \"10.99.0.0/24\"\n[[copy.route]]", 1), 8, "copy.client_pool", "not inside gateway.pools (10.88.0.0/24)"},
		{"appliance client_pool wider", gwOK + strings.Replace(copyOK, "[[copy.route]]", "client_pool = \"10.88.0.0/16\"\n[[copy.route]]", 1), 8, "copy.client_pool", "not inside gateway.pools"},
		{"appliance payload", "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken = \"t\"\npayload_cap = 64\n" + strings.Replace(copyOK, "[[copy.route]]", "payload_bytes = 128\n[[copy.route]]", 1), 9, "copy.payload_bytes", "more than gateway.payload_cap (64)"},

		// [metrics], [log]
		{"metrics listen", gwOK + "[metrics]\nlisten = \"localhost\"\n", 5, "metrics.listen", "not host:port"},
		{"metrics host", gwOK + "[metrics]\nlisten = \"bad_host:9257\"\n", 5, "metrics.listen", "neither an IP address nor a host name"},
		{"log level", gwOK + "[log]\nlevel = \"verbose\"\n", 5, "log.level", `"verbose" is not one of debug, info, warn, error`},
		{"log format", gwOK + "[log]\nformat = \"xml\"\n", 5, "log.format", `"xml" is not one of text, json`},
		{"log level empty", gwOK + "[log]\nlevel = \"\"\n", 5, "log.level", "is not one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.text), "replaygw.toml")
			if tc.msg == "" { // a case that must be valid
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config returned along with an error")
			}
			want := "replaygw.toml:"
			if tc.line > 0 {
				want += strconv.Itoa(tc.line) + ":"
			}
			want += " "
			if tc.key != "" {
				want += tc.key + ": "
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, want) && strings.Contains(l, tc.msg) {
					return
				}
			}
			t.Errorf("error does not have a line starting %q containing %q:\n%v", want, tc.msg, err)
		})
	}
}

func TestParseValid(t *testing.T) {
	cases := []struct {
		name string
		text string
		role string
	}{
		{"gateway", gwOK, RoleGateway},
		{"copier", copyOK, RoleCopier},
		{"appliance", gwOK + copyOK, RoleAppliance},
		{"appliance without gateways or copy token", gwOK + "[copy]\ninterface = \"eth0\"\nclient_pool = \"10.88.0.0/25\"\n[[copy.route]]\nfrom = \"10.0.0.20:80\"\nto = \"10.0.0.30:80\"\n", RoleAppliance},
		{"appliance sender tun", gwOK + "[copy]\ninterface = \"eth0\"\nsender = \"tun\"\nclient_pool = \"10.88.0.0/24\"\n[[copy.route]]\nfrom = \"10.0.0.20:80\"\nto = \"10.0.0.30:80\"\n", RoleAppliance},
		{"pcap copier", "[copy]\nsource = \"/var/tmp/x.pcap\"\n[[copy.route]]\nfrom = \"10.0.0.20:80\"\nto = \"10.0.0.30:80\"\n", RoleCopier},
		{"ipv6", "[gateway]\npools = [\"fd00:88::/112\", \"10.88.0.0/24\"]\ntoken = \"x\"\n[copy]\ninterface = \"eth0\"\nclient_pool = \"fd00:88::/120\"\n[[copy.route]]\nfrom = \"[2001:db8::20]:80\"\nto = \"[2001:db8::30]:80\"\n", RoleAppliance},
		{"inline routes", "[copy]\ninterface = \"eth0\"\ngateways = [\"gw.example:36524\"]\ntoken = \"x\"\nroute = [{from = \"10.0.0.20:80\", to = \"10.0.0.30:80\"}]\n", RoleCopier},
		{"dotted keys", "gateway.pools = [\"10.88.0.0/24\"]\ngateway.token = \"x\"\n", RoleGateway},
		{"sample fraction", strings.Replace(copyOK, "[[copy.route]]", "sample_percent = 0.5\n[[copy.route]]", 1), RoleCopier},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.text), "ok.toml")
			if err != nil {
				t.Fatalf("%v", err)
			}
			if got := c.Role(); got != tc.role {
				t.Errorf("Role() = %q, want %q", got, tc.role)
			}
			if c.Appliance() != (tc.role == RoleAppliance) {
				t.Errorf("Appliance() = %v for role %s", c.Appliance(), tc.role)
			}
		})
	}
}

func TestMultipleErrors(t *testing.T) {
	text := `[gateway]
pools = ["10.88.0.0/24", "10.88.0.0/25"]
queues = 99
redirect = "x"
[log]
level = "loud"
colour = true
`
	_, err := Parse([]byte(text), "m.toml")
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"m.toml:1: gateway.token: missing",
		"m.toml:2: gateway.pools[1]: 10.88.0.0/25 overlaps gateway.pools[0]",
		"m.toml:3: gateway.queues: 99 is out of range",
		"m.toml:4: gateway.redirect:",
		"m.toml:6: log.level:",
		"m.toml:7: log.colour: unknown key",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 1 || e.Key != "gateway.token" {
		t.Errorf("errors.As: %+v", e)
	}
}

func TestWarnings(t *testing.T) {
	text := strings.Replace(copyOK, "[[copy.route]]", "copies = 4\nclient_pool = \"10.88.0.0/31\"\nnext_hop_mac = \"02:42:ac:11:00:02\"\n[[copy.route]]", 1)
	c, err := Parse([]byte(text), "w.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"w.toml:6: copy.client_pool: 10.88.0.0/31 has 2 addresses, fewer than copies (4)",
		"w.toml:7: copy.next_hop_mac: ignored unless sender = \"l2\"",
	}
	if len(c.Warnings) != len(want) {
		t.Fatalf("warnings = %q", c.Warnings)
	}
	for i, w := range want {
		if !strings.HasPrefix(c.Warnings[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, c.Warnings[i], w)
		}
	}
	c, err = Parse([]byte(copyOK), "w.toml")
	if err != nil || len(c.Warnings) != 0 {
		t.Errorf("clean config: warnings %q, err %v", c.Warnings, err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(gwOK+copyOK), "d.toml")
	if err != nil {
		t.Fatal(err)
	}
	g, p := c.Gateway, c.Copy
	checks := []struct {
		name      string
		got, want any
	}{
		{"tun", g.TUN, "rgw0"},
		{"listen", g.Listen, ":36524"},
		{"gateway cpus", g.CPUs, 1},
		{"queues", g.Queues, 1},
		{"mtu", g.MTU, 1500},
		{"txqueuelen", g.TxQueueLen, 10000},
		{"redirect", g.Redirect, "auto"},
		{"hold_early", g.HoldEarly.Duration, 2 * time.Second},
		{"lease_ttl", g.LeaseTTL.Duration, 5 * time.Minute},
		{"copier_queue", g.CopierQueue, 65536},
		{"payload_cap", g.PayloadCap, 0},
		{"pool prefixes", len(g.PoolPrefixes), 1},
		{"gateway secret", g.Secret, "t0ken-0123456789abcdef"},
		{"copies", p.Copies, 1},
		{"sample_percent", p.SamplePercent, 100.0},
		{"workers", p.Workers, 0},
		{"memory_limit", p.MemoryLimit, 256 * MiB},
		{"capture_ring_mb", p.CaptureRingMB, 32},
		{"session_buffer", p.SessionBuffer, 4 * MiB},
		{"idle_timeout", p.IdleTimeout.Duration, 60 * time.Second},
		{"gap_timeout", p.GapTimeout.Duration, 3 * time.Second},
		{"syn_timeout", p.SynTimeout.Duration, 6 * time.Second},
		{"time_wait", p.TimeWait.Duration, 60 * time.Second},
		{"mss", p.MSS, 1460},
		{"source", p.Source, "live"},
		{"sender (appliance)", p.Sender, "tun"},
		{"send_interface (appliance)", p.SendInterface, "rgw0s"},
		{"ledger_max_size", p.LedgerMaxSize, 64 * MiB},
		{"copy secret", p.Secret, "t0ken-0123456789abcdef"},
		{"from", p.Routes[0].FromAddr.String(), "10.0.0.20:80"},
		{"to", p.Routes[0].ToAddr.String(), "10.0.0.30:80"},
		{"client prefix unset", p.ClientPrefix.IsValid(), false},
		{"log level", c.Log.Level, "info"},
		{"log format", c.Log.Format, "text"},
		{"metrics", c.Metrics.Listen, ""},
		{"path", c.Path, "d.toml"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}

	// SetDefaults for configs built in code fills the same values.
	built := &Config{Gateway: &Gateway{Pools: []string{"10.88.0.0/24"}, Token: "t0ken-0123456789abcdef"}, Copy: &Copy{
		Interface: "eth0", Sender: "tun", Routes: []Route{{From: "10.0.0.20:80", To: "10.0.0.30:80"}},
		ClientPool: "10.88.0.0/24"}}
	built.SetDefaults()
	if err := built.Validate(); err != nil {
		t.Fatal(err)
	}
	if built.Gateway.Queues != g.Queues || built.Copy.MemoryLimit != p.MemoryLimit || built.Copy.SendInterface != "rgw0s" {
		t.Errorf("SetDefaults: %+v %+v", built.Gateway, built.Copy)
	}
	if built.Copy.Secret != "t0ken-0123456789abcdef" {
		t.Errorf("appliance copy secret = %q, want the gateway's", built.Copy.Secret)
	}
}

func TestValidateAfterOverride(t *testing.T) {
	c, err := Parse([]byte(copyOK), "o.toml")
	if err != nil {
		t.Fatal(err)
	}
	c.Copy.Copies = 100
	c.Copy.Routes[0].To = "10.0.0.31:8080"
	err = c.Validate()
	if err == nil || err.Error() != "o.toml: copy.copies: 100 is out of range 1..64" {
		t.Errorf("Validate() = %v", err)
	}
	if got := c.Copy.Routes[0].ToAddr.String(); got != "10.0.0.31:8080" {
		t.Errorf("ToAddr not refreshed: %s", got)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "replaygw.toml")
	text := "[gateway]\npools = [\"10.88.0.0/24\"]\ntoken_file = \"token\"\n" + // relative to the config
		strings.Replace(copyOK, `token = "t0ken-0123456789abcdef"`, `token_file = "`+filepath.Join(dir, "token")+`"`, 1)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.Secret != "s3cret" || c.Copy.Secret != "s3cret" {
		t.Errorf("secrets %q %q, want s3cret", c.Gateway.Secret, c.Copy.Secret)
	}
	if c.Path != conf {
		t.Errorf("Path = %q", c.Path)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestExample(t *testing.T) {
	c, err := Parse(Example, "replaygw.toml")
	if err != nil {
		t.Fatalf("example does not load:\n%v", err)
	}
	for _, w := range c.Warnings {
		if !strings.Contains(w, "the example's token") {
			t.Errorf("example has a warning: %q", w)
		}
	}
	if c.Role() != RoleAppliance || len(c.Copy.Routes) != 2 || c.Metrics.Listen == "" {
		t.Errorf("example: role %q, %d routes, metrics %q", c.Role(), len(c.Copy.Routes), c.Metrics.Listen)
	}
	// The file on disk is the embedded one, and Load reads it too.
	if _, err := Load("replaygw.toml"); err != nil {
		t.Errorf("Load(replaygw.toml): %v", err)
	}
	// Every key of the schema is documented ("key =" or "# key =").
	for _, key := range schemaKeys(reflect.TypeFor[Config](), "") {
		name := key[strings.LastIndexByte(key, '.')+1:]
		if !strings.Contains(string(Example), "\n"+name+" = ") && !strings.Contains(string(Example), "\n# "+name+" = ") {
			t.Errorf("example does not document %s", key)
		}
	}
}

// schemaKeys lists the leaf keys of t by their toml tags.
func schemaKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return []string{prefix}
	}
	var keys []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if prefix != "" {
			p = prefix + "." + tag
		}
		keys = append(keys, schemaKeys(t.Field(i).Type, p)...)
	}
	return keys
}

func TestRole(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, ""},
		{Config{Gateway: &Gateway{}}, "gateway"},
		{Config{Copy: &Copy{}}, "copier"},
		{Config{Gateway: &Gateway{}, Copy: &Copy{}}, "appliance"},
	} {
		if got := tc.c.Role(); got != tc.want {
			t.Errorf("Role() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"f.toml", 14, "copy.route[1].to", "bad"}, "f.toml:14: copy.route[1].to: bad"},
		{Error{"f.toml", 0, "copy", "bad"}, "f.toml: copy: bad"},
		{Error{"f.toml", 0, "", "bad"}, "f.toml: bad"},
		{Error{"", 3, "log.level", "bad"}, "line 3: log.level: bad"},
		{Error{"", 0, "", "bad"}, "bad"},
		{Error{"f", 1, "a\nb", "x\ny"}, `f:1: a\nb: x\ny`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
