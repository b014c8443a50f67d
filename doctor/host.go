package doctor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// binaryPath names this program for setcap fixes.
func binaryPath() string {
	if p, err := os.Executable(); err == nil && !strings.HasSuffix(p, ".test") {
		return p
	}
	return "/usr/local/bin/replaygw"
}

// checkCaps verifies the effective capabilities a role needs.
func checkCaps(role string, need ...int) Check {
	name := "privileges"
	caps, err := effectiveCaps()
	if err != nil {
		return warn(name, "", "cannot read capabilities: %v", err)
	}
	var missing []string
	for _, c := range need {
		if caps&(1<<c) == 0 {
			missing = append(missing, capName(c))
		}
	}
	if len(missing) > 0 {
		return fail(name, fmt.Sprintf("run as root (sudo replaygw %s), or: sudo setcap cap_net_raw,cap_net_admin+ep %s", role, binaryPath()),
			"missing %s (effective capabilities %#x)", strings.Join(missing, ", "), caps)
	}
	var have []string
	for _, c := range need {
		have = append(have, capName(c))
	}
	return pass(name, "%s effective", strings.Join(have, ", "))
}

func capName(c int) string {
	switch c {
	case capNetAdmin:
		return "CAP_NET_ADMIN"
	case capNetRaw:
		return "CAP_NET_RAW"
	}
	return fmt.Sprintf("cap %d", c)
}

// checkLink verifies that iface exists and is up; it returns the link for
// further checks (nil on FAIL).
func checkLink(name, iface, key string) (netlink.Link, *Check) {
	if iface == "" {
		c := fail(name, fmt.Sprintf("set %s to the interface name (ip -br link)", key), "%s is empty", key)
		return nil, &c
	}
	l, err := netlink.LinkByName(iface)
	if err != nil {
		c := fail(name, fmt.Sprintf("set %s to one of: %s", key, linkNames()), "interface %s not found: %v", iface, err)
		return nil, &c
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		c := fail(name, "ip link set "+iface+" up", "interface %s is down", iface)
		return l, &c
	}
	return l, nil
}

func linkNames() string {
	links, err := netlink.LinkList()
	if err != nil {
		return "(ip -br link)"
	}
	var names []string
	for _, l := range links {
		if l.Attrs().Flags&net.FlagLoopback == 0 {
			names = append(names, l.Attrs().Name)
		}
	}
	return strings.Join(names, ", ")
}

// checkCapture opens an AF_PACKET socket bound to iface, as capture does.
func checkCapture(iface string) Check {
	name := "capture " + iface
	l, bad := checkLink(name, iface, "[copy].interface")
	if bad != nil {
		return *bad
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(name, permFix(err, "copy"), "cannot open an AF_PACKET socket: %v", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.Attrs().Index}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(name, permFix(err, "copy"), "cannot bind an AF_PACKET socket to %s: %v", iface, err)
	}
	return pass(name, "AF_PACKET socket bound to %s (index %d, mtu %d)", iface, l.Attrs().Index, l.Attrs().MTU)
}

// checkRawSocket opens the raw IP socket the default sender uses.
func checkRawSocket(v4, v6 bool) Check {
	name := "raw socket"
	var fams []string
	for _, f := range []struct {
		on  bool
		af  int
		tag string
	}{{v4, unix.AF_INET, "IPv4"}, {v6, unix.AF_INET6, "IPv6"}} {
		if !f.on {
			continue
		}
		fd, err := unix.Socket(f.af, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fail(name, permFix(err, "copy"), "cannot open an %s raw socket: %v", f.tag, err)
		}
		unix.Close(fd)
		fams = append(fams, f.tag)
	}
	return pass(name, "%s raw sockets (IP_HDRINCL) open", strings.Join(fams, " and "))
}

func permFix(err error, role string) string {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Sprintf("run as root (sudo replaygw %s), or: sudo setcap cap_net_raw,cap_net_admin+ep %s", role, binaryPath())
	}
	return ""
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// checkRPFilter reports the effective IPv4 reverse-path filter of iface:
// the larger of conf.all and conf.<iface>. Strict mode (1) gets severity
// strict; loose (2) and off (0) pass. why says what strict mode breaks.
func checkRPFilter(iface, strict, why string) Check {
	name := "rp_filter " + iface
	all, err1 := sysctlInt("net.ipv4.conf.all.rp_filter")
	dev, err2 := sysctlInt(ifKey("ipv4", iface, "rp_filter"))
	if err1 != nil || err2 != nil {
		return warn(name, "", "cannot read rp_filter: %v", errors.Join(err1, err2))
	}
	eff := max(all, dev)
	mode := map[int64]string{0: "off", 1: "strict", 2: "loose"}[eff]
	if eff != 1 {
		return pass(name, "reverse-path filter %s (all=%d, %s=%d)", mode, all, iface, dev)
	}
	fix := "sysctl -w " + ifKey("ipv4", iface, "rp_filter") + "=2"
	c := Check{Name: name, Status: strict, Fix: fix,
		Detail: fmt.Sprintf("strict reverse-path filtering (all=%d, %s=%d): %s", all, iface, dev, why)}
	return c
}

// checkConntrack compares nf_conntrack_count with nf_conntrack_max.
func checkConntrack(targets []string) Check {
	name := "conntrack"
	maxv, err := sysctlInt("net.netfilter.nf_conntrack_max")
	if err != nil {
		maxv, err = sysctlInt("net.nf_conntrack_max")
	}
	if err != nil {
		return pass(name, "nf_conntrack not loaded: replayed packets are not tracked")
	}
	count, err := sysctlInt("net.netfilter.nf_conntrack_count")
	if err != nil {
		return warn(name, "", "nf_conntrack_max is %d but the count is unreadable: %v", maxv, err)
	}
	return conntrackVerdict(count, maxv, targets)
}

// conntrackVerdict judges the table's headroom.
func conntrackVerdict(count, maxv int64, targets []string) Check {
	name := "conntrack"
	if maxv <= 0 {
		return pass(name, "%d tracked connections, no limit", count)
	}
	use := 100 * float64(count) / float64(maxv)
	fix := fmt.Sprintf("sysctl -w net.netfilter.nf_conntrack_max=%d", 4*maxv)
	for _, t := range targets {
		fix += "\n" + notrackRule(t)
	}
	switch {
	case use >= 95:
		return fail(name, fix, "%d of %d entries (%.0f%%): the table is full; the kernel drops packets and raw sends fail with EPERM", count, maxv, use)
	case use > 80:
		return warn(name, fix, "%d of %d entries (%.0f%%): replayed sessions add one entry each", count, maxv, use)
	}
	return pass(name, "%d of %d entries (%.0f%%)", count, maxv, use)
}

// notrackRule exempts replayed traffic to target (addr:port) from
// conntrack.
func notrackRule(target string) string {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return ""
	}
	ipt := "iptables"
	if strings.Contains(host, ":") {
		ipt = "ip6tables"
	}
	return fmt.Sprintf("%s -t raw -I OUTPUT -p tcp -d %s --dport %s -j NOTRACK", ipt, host, port)
}
