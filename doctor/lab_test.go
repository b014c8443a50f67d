package doctor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// The test lab: three hosts (online, target, gateway) on one bridge, each
// in its own namespace named rgD<pid>-<seq>-<host>; nothing touches the
// root namespace.
const (
	labPrefix = "rgD"
	labPool   = "10.88.0.0/24"
	onlineIP  = "10.99.0.20"
	targetIP  = "10.99.0.30"
	gwIP      = "10.99.0.40"
	gwCtl     = gwIP + ":36524"
	tunName   = "rgw0"

	labPool6 = "fd88::/64"
	online6  = "fd99::20"
	target6  = "fd99::30"
	gw6      = "fd99::40"
)

type lab struct {
	name string
}

var labSeq atomic.Uint64

func (l *lab) ns(h string) string { return l.name + "-" + h }

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
}

// newLab builds the topology and registers its removal.
func newLab(t *testing.T) *lab {
	t.Helper()
	needRoot(t)
	cleanStale()
	l := &lab{name: fmt.Sprintf("%s%d-%d", labPrefix, os.Getpid(), labSeq.Add(1))}
	hosts := map[string]string{"on": onlineIP, "tg": targetIP, "gw": gwIP}
	hosts6 := map[string]string{"on": online6, "tg": target6, "gw": gw6}
	for _, h := range []string{"sw", "on", "tg", "gw"} {
		l.run(t, "", "ip", "netns", "add", l.ns(h))
		ns := l.ns(h)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		// No duplicate address detection: addresses (link-local ones too)
		// are usable at once, so neighbour discovery works immediately.
		l.sysctl(t, h, "net.ipv6.conf.default.accept_dad", "0")
		l.sysctl(t, h, "net.ipv6.conf.all.accept_dad", "0")
	}
	l.run(t, "sw", "ip", "link", "set", "lo", "up")
	l.run(t, "sw", "ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	l.run(t, "sw", "ip", "link", "set", "br0", "up")
	for _, h := range []string{"on", "tg", "gw"} {
		port := "p-" + h
		l.run(t, "sw", "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", l.ns(h))
		l.run(t, "sw", "ip", "link", "set", port, "master", "br0", "up")
		l.run(t, h, "ip", "link", "set", "lo", "up")
		l.run(t, h, "ip", "link", "set", "eth0", "up")
		l.run(t, h, "ip", "addr", "add", hosts[h]+"/24", "dev", "eth0")
		l.run(t, h, "ip", "addr", "add", hosts6[h]+"/64", "dev", "eth0", "nodad")
		for _, dev := range []string{"all", "default", "eth0"} {
			l.sysctl(t, h, "net.ipv4.conf."+dev+".rp_filter", "0")
		}
	}
	l.run(t, "tg", "ip", "route", "add", labPool, "via", gwIP)
	l.run(t, "tg", "ip", "-6", "route", "add", labPool6, "via", gw6)
	return l
}

// run runs a command in host's namespace ("" = as is).
func (l *lab) run(t *testing.T, host string, args ...string) string {
	t.Helper()
	out, err := l.try(host, args...)
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func (l *lab) try(host string, args ...string) (string, error) {
	if host != "" {
		args = append([]string{"ip", "netns", "exec", l.ns(host)}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

func (l *lab) sysctl(t *testing.T, host, key, val string) {
	t.Helper()
	l.run(t, host, "sysctl", "-qw", key+"="+val)
}

// in runs fn on a fresh OS thread inside host's namespace; the thread is
// never unlocked, so it dies with its goroutine.
func (l *lab) in(t *testing.T, host string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(l.ns(host))
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		fn()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("enter %s: %v", l.ns(host), err)
	}
}

// installRedirect adds the tc ingress redirect on the gateway by hand.
func (l *lab) installRedirect(t *testing.T) {
	l.run(t, "gw", "tc", "qdisc", "add", "dev", "eth0", "clsact")
	l.run(t, "gw", "tc", "filter", "add", "dev", "eth0", "ingress", "protocol", "ip", "u32",
		"match", "ip", "dst", labPool, "action", "mirred", "egress", "redirect", "dev", tunName)
}

// cleanStale removes namespaces of earlier runs whose process is gone.
func cleanStale() {
	names, _ := filepath.Glob("/run/netns/" + labPrefix + "*")
	for _, p := range names {
		n := filepath.Base(p)
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(n, labPrefix), "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			exec.Command("ip", "netns", "del", n).Run()
		}
	}
}
