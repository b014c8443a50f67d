package configs

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// withCopy inserts lines into copyOK before its route.
func withCopy(lines string) string {
	return strings.Replace(copyOK, "[[copy.route]]", lines+"[[copy.route]]", 1)
}

// fakeInterfaces replaces the interface lookup for one test: eth0 is an
// Ethernet device, tun9 a TUN, nothing else exists.
func fakeInterfaces(t *testing.T) {
	old := interfaceKind
	interfaceKind = func(name string) (bool, bool) {
		switch name {
		case "eth0":
			return true, false
		case "tun9":
			return true, true
		}
		return false, false
	}
	t.Cleanup(func() { interfaceKind = old })
}

// problemCase is one check: text, and the problem it must produce (an
// error, or with warn a warning the config still loads with); msg "" says
// the text loads with neither.
type problemCase struct {
	name string
	text string
	line int
	key  string
	msg  string
	warn bool
}

func runProblemCases(t *testing.T, cases []problemCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.text), "c.toml")
			var lines []string
			switch {
			case tc.msg == "":
				if err != nil {
					t.Fatalf("refused:\n%v", err)
				}
				if len(c.Warnings) != 0 {
					t.Fatalf("warnings: %q", c.Warnings)
				}
				return
			case tc.warn:
				if err != nil {
					t.Fatalf("refused, want a warning:\n%v", err)
				}
				lines = c.Warnings
			default:
				if err == nil {
					t.Fatalf("accepted; warnings %q", c.Warnings)
				}
				lines = strings.Split(err.Error(), "\n")
			}
			want := "c.toml:" + strconv.Itoa(tc.line) + ": " + tc.key + ": "
			for _, l := range lines {
				if strings.HasPrefix(l, want) && strings.Contains(l, tc.msg) {
					return
				}
			}
			t.Errorf("no line starting %q containing %q in:\n%s", want, tc.msg, strings.Join(lines, "\n"))
		})
	}
}

func TestRouteChecks(t *testing.T) {
	route := func(from, to string) string {
		return copyOK + "[[copy.route]]\nfrom = \"" + from + "\"\nto = \"" + to + "\"\n"
	}
	runProblemCases(t, []problemCase{
		{"to is another route's from", route("10.0.0.30:80", "10.0.0.31:80"), 7, "copy.route[0].to", "10.0.0.30:80 is copy.route[1].from, the online service: the replay would go into production", false},
		{"to is its own from", route("10.0.0.21:80", "10.0.0.21:80"), 10, "copy.route[1].to", "is copy.route[1].from", false},
		{"same host other port", route("10.0.0.21:80", "10.0.0.21:8080"), 0, "", "", false},
		{"to unspecified", route("10.0.0.21:80", "0.0.0.0:80"), 10, "copy.route[1].to", "unspecified address", false},
		{"to unspecified v6", route("[2001:db8::1]:80", "[::]:80"), 10, "copy.route[1].to", "unspecified address", false},
		{"from multicast", route("224.0.0.1:80", "10.0.0.31:80"), 9, "copy.route[1].from", "multicast", false},
		{"to multicast v6", route("[2001:db8::1]:80", "[ff02::1]:80"), 10, "copy.route[1].to", "multicast", false},
		{"to broadcast", route("10.0.0.21:80", "255.255.255.255:80"), 10, "copy.route[1].to", "broadcast", false},
		{"to loopback", route("10.0.0.21:80", "127.0.0.1:80"), 10, "copy.route[1].to", "loopback address: only this host could answer; if that is what you want, set allow_local = true", false},
		{"from loopback v6", route("[::1]:80", "[2001:db8::2]:80"), 9, "copy.route[1].from", "allow_local = true", false},
		{"loopback allowed", route("10.0.0.21:80", "127.0.0.1:80") + "allow_local = true\n", 0, "", "", false},
		{"link-local target", route("[fe80::1]:80", "[fe80::2]:80"), 0, "", "", false},
		{"to inside client_pool", withCopy("client_pool = \"10.0.0.0/24\"\n"), 8, "copy.route[0].to", "10.0.0.30:80 is inside copy.client_pool (10.0.0.0/24)", false},
		{"from inside client_pool", withCopy("client_pool = \"10.0.0.16/28\"\n"), 7, "copy.route[0].from", "10.0.0.20:80 is inside copy.client_pool", false},
		{"to inside gateway.pools", "[gateway]\npools = [\"10.88.0.0/24\", \"10.0.0.0/27\"]\ntoken = \"t0ken-0123456789abcdef\"\n" + withCopy("client_pool = \"10.88.0.0/24\"\n"), 11, "copy.route[0].to", "10.0.0.30:80 is inside gateway.pools[1] (10.0.0.0/27): the gateway would absorb", false},
	})
}

func TestPoolChecks(t *testing.T) {
	pool := func(p string) string {
		return "[gateway]\ntoken = \"t0ken-0123456789abcdef\"\npools = [\"" + p + "\"]\n"
	}
	runProblemCases(t, []problemCase{
		{"loopback", pool("127.0.0.0/24"), 3, "gateway.pools[0]", "overlaps 127.0.0.0/8 (loopback)", false},
		{"link-local", pool("169.254.0.0/16"), 3, "gateway.pools[0]", "link-local", false},
		{"multicast", pool("224.0.0.0/8"), 3, "gateway.pools[0]", "multicast", false},
		{"this network", pool("0.0.0.0/8"), 3, "gateway.pools[0]", "unspecified", false},
		{"wide enough to hold loopback", pool("0.0.0.0/1"), 3, "gateway.pools[0]", "overlaps 0.0.0.0/8", false},
		{"v6 link-local", pool("fe80::/64"), 3, "gateway.pools[0]", "link-local", false},
		{"v6 multicast", pool("ff00::/8"), 3, "gateway.pools[0]", "multicast", false},
		{"v6 loopback", pool("::1/128"), 3, "gateway.pools[0]", "loopback", false},
		{"private v4", pool("192.168.77.0/24"), 0, "", "", false},
		{"ula v6", pool("fd00:88::/112"), 0, "", "", false},
		{"client_pool loopback", withCopy("client_pool = \"127.0.1.0/24\"\n"), 5, "copy.client_pool", "loopback", false},
	})
}

func TestListenerAndInterfaceChecks(t *testing.T) {
	fakeInterfaces(t)
	gw := func(lines string) string { return strings.Replace(gwOK, "[gateway]\n", "[gateway]\n"+lines, 1) }
	runProblemCases(t, []problemCase{
		{"metrics on the control port", gw("") + "[metrics]\nlisten = \"0.0.0.0:36524\"\n", 5, "metrics.listen", `"0.0.0.0:36524" and gateway.listen (":36524") are the same address`, false},
		{"both on one host:port", gw("listen = \"10.0.0.1:9000\"\n") + "[metrics]\nlisten = \"10.0.0.1:9000\"\n", 6, "metrics.listen", "same address", false},
		{"v6 any", gw("listen = \"[::]:9000\"\n") + "[metrics]\nlisten = \"127.0.0.1:9000\"\n", 6, "metrics.listen", "same address", false},
		{"same port, other hosts", gw("listen = \"10.0.0.1:9000\"\n") + "[metrics]\nlisten = \"127.0.0.1:9000\"\n", 0, "", "", false},
		{"other ports", gw("") + "[metrics]\nlisten = \"127.0.0.1:9257\"\n", 0, "", "", false},
		{"tun is an ethernet device", gw("tun = \"eth0\"\n"), 2, "gateway.tun", `"eth0" is an existing interface that is not a TUN device`, false},
		{"tun exists as a TUN", gw("tun = \"tun9\"\n"), 0, "", "", false},
		{"tun absent", gw("tun = \"rgw7\"\n"), 0, "", "", false},
		{"sender tun on an ethernet device", withCopy("sender = \"tun\"\nsend_interface = \"eth0\"\n"), 6, "copy.send_interface", "not a TUN device", false},
		{"sender tun on a TUN", withCopy("sender = \"tun\"\nsend_interface = \"tun9\"\n"), 0, "", "", false},
		{"sender l2 on ethernet", withCopy("sender = \"l2\"\nsend_interface = \"eth0\"\n"), 0, "", "", false},
		{"ingress list", gw("ingress = \"eth0, eth1\"\n"), 0, "", "", false},
		{"ingress empty name", gw("ingress = \"eth0,\"\n"), 2, "gateway.ingress", "has an empty name", false},
		{"ingress twice", gw("ingress = \"eth0,eth0\"\n"), 2, "gateway.ingress", "lists eth0 twice", false},
		{"ingress is the tun", gw("ingress = \"rgw0\"\n"), 2, "gateway.ingress", "the gateway's own TUN", false},
		{"ingress bad name", gw("ingress = \"eth0,eth 1\"\n"), 2, "gateway.ingress", `"eth 1" is not a valid interface name`, false},
		{"appliance capturing on eth0", gwOK + withCopy("client_pool = \"10.88.0.0/24\"\n"), 0, "", "", false},
		{"capture on the tun", gwOK + strings.Replace(withCopy("client_pool = \"10.88.0.0/24\"\n"), `"eth0"`, `"rgw0"`, 1), 5, "copy.interface", `"rgw0" is the gateway's TUN`, false},
		{"send_interface with raw", withCopy("send_interface = \"eth1\"\n"), 5, "copy.send_interface", `ignored with sender = "raw"`, true},
	})
}

func TestRangeAndEnumChecks(t *testing.T) {
	gw := func(line string) string { return gwOK + line + "\n" }
	cp := func(line string) string { return withCopy(line + "\n") }
	runProblemCases(t, []problemCase{
		{"hold_early long", gw(`hold_early = "2m"`), 4, "gateway.hold_early", "2m is more than 1m", false},
		{"hold_early at limit", gw(`hold_early = "1m"`), 0, "", "", false},
		{"lease_ttl days", gw(`lease_ttl = "48h"`), 4, "gateway.lease_ttl", "48h is more than 24h", false},
		{"copier_queue huge", gw(`copier_queue = 33554432`), 4, "gateway.copier_queue", "out of range 1..16777216", false},
		{"txqueuelen beyond u32", gw(`txqueuelen = 3000000000`), 4, "gateway.txqueuelen", "out of range 0..2147483647", false},
		{"mtu int64 max", gw(`mtu = 9223372036854775807`), 4, "gateway.mtu", "9223372036854775807 is out of range 576..65535", false},
		{"queues int64 min", gw(`queues = -9223372036854775808`), 4, "gateway.queues", "out of range 1..16", false},
		{"redirect case", gw(`redirect = "TC"`), 4, "gateway.redirect", `"TC" is not one of auto, tc, forwarding; did you mean "tc"? (values are case-sensitive)`, false},
		{"redirect typo", gw(`redirect = "forwardng"`), 4, "gateway.redirect", `did you mean "forwarding"?`, false},
		{"log level case", gw("[log]\nlevel = \"Info\""), 5, "log.level", `did you mean "info"?`, false},
		{"sender case", cp(`sender = "RAW"`), 5, "copy.sender", `did you mean "raw"?`, false},
		{"source Live", cp(`source = "Live"`), 5, "copy.source", `"Live" is neither "live" nor a pcap file; did you mean "live"?`, false},
		{"idle_timeout day+", cp(`idle_timeout = "25h"`), 5, "copy.idle_timeout", "more than 24h", false},
		{"gap_timeout", cp(`gap_timeout = "11m"`), 5, "copy.gap_timeout", "more than 10m", false},
		{"syn_timeout", cp(`syn_timeout = "1h"`), 5, "copy.syn_timeout", "more than 10m", false},
		{"syn_timeout zero", cp(`syn_timeout = "0s"`), 5, "copy.syn_timeout", "greater than 0", false},
		{"time_wait", cp(`time_wait = "2h"`), 5, "copy.time_wait", "more than 1h", false},
		{"time_wait zero ok", cp(`time_wait = "0s"`), 0, "", "", false},
		{"memory_limit", cp(`memory_limit = "2TiB"`), 5, "copy.memory_limit", "2TiB is more than 1TiB", false},
		{"capture_ring_mb small", cp(`capture_ring_mb = 2`), 5, "copy.capture_ring_mb", "2 is out of range 4..4096", false},
		{"capture_ring_mb zero", cp(`capture_ring_mb = 0`), 5, "copy.capture_ring_mb", "0 is out of range 4..4096", false},
		{"capture_ring_mb big", cp(`capture_ring_mb = 8192`), 5, "copy.capture_ring_mb", "8192 is out of range 4..4096", false},
		{"capture_ring_mb 4 ok", cp(`capture_ring_mb = 4`), 0, "", "", false},
		{"rate_limit", cp(`rate_limit = 20000000`), 5, "copy.rate_limit", "out of range 0..10000000", false},
		{"max_sessions zero", cp(`max_sessions = 0`), 5, "copy.max_sessions", "out of range 1..16777216", false},
		{"max_sessions huge", cp(`max_sessions = 100000000`), 5, "copy.max_sessions", "out of range 1..16777216", false},
		{"max_sessions negative", cp(`max_sessions = -3`), 5, "copy.max_sessions", "negative", false},
		{"ledger_max_size", cp(`ledger_max_size = "1KiB"`), 5, "copy.ledger_max_size", "1KiB is less than 4KiB", false},
		{"size overflow", cp(`memory_limit = "9999999TiB"`), 5, "copy.memory_limit", "too large", false},
		{"copies without pool", cp(`copies = 2`), 5, "copy.copies", "2 copies need a client_pool", false},
		{"copies with pool", cp("copies = 2\nclient_pool = \"10.88.0.0/24\""), 0, "", "", false},
	})
}

func TestTokenChecks(t *testing.T) {
	dir := t.TempDir()
	exampleFile := dir + "/token"
	if err := os.WriteFile(exampleFile, []byte("change-me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := func(tok string) string { return "[gateway]\npools = [\"10.88.0.0/24\"]\n" + tok + "\n" }
	runProblemCases(t, []problemCase{
		{"short", gw(`token = "x"`), 3, "gateway.token", "the token is 1 bytes; use at least 16", true},
		{"15 bytes", gw(`token = "123456789012345"`), 3, "gateway.token", "15 bytes", true},
		{"16 bytes", gw(`token = "1234567890123456"`), 0, "", "", false},
		{"old example", gw(`token = "change-me"`), 3, "gateway.token", "the example's token", true},
		{"example", gw(`token = "replace-with-a-long-random-secret"`), 3, "gateway.token", "the example's token", true},
		{"example in a file", gw(`token_file = "` + exampleFile + `"`), 3, "gateway.token_file", "the example's token", true},
		{"copy short", strings.Replace(copyOK, `"t0ken-0123456789abcdef"`, `"abc"`, 1), 4, "copy.token", "3 bytes", true},
	})
}
