package tunnel

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab/netns"
	"golang.org/x/sys/unix"
)

// pollable returns a duplicate of an (unpolled) queue file that the Go
// netpoller watches, so that a test can read it with a deadline.
func pollable(f *os.File) *os.File {
	var nfd int
	rc, err := f.SyscallConn()
	if err != nil {
		panic(err)
	}
	if cerr := rc.Control(func(fd uintptr) { nfd, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil || err != nil {
		panic(fmt.Sprint("dup queue: ", cerr, err))
	}
	return os.NewFile(uintptr(nfd), f.Name()) // O_NONBLOCK: registered
}

// drain reads every queue until the deadline and returns the destination
// addresses of the packets seen.
func drain(queues []*os.File, d time.Duration) map[netip.Addr]int {
	var mu sync.Mutex
	seen := map[netip.Addr]int{}
	var wg sync.WaitGroup
	for _, q := range queues {
		q := pollable(q)
		wg.Go(func() {
			defer q.Close()
			q.SetReadDeadline(time.Now().Add(d))
			buf := make([]byte, 65536)
			for {
				n, err := q.Read(buf)
				if err != nil {
					return
				}
				var dst netip.Addr
				switch {
				case n >= 20 && buf[0]>>4 == 4:
					dst = netip.AddrFrom4([4]byte(buf[16:20]))
				case n >= 40 && buf[0]>>4 == 6:
					dst = netip.AddrFrom16([16]byte(buf[24:40]))
				default:
					continue
				}
				mu.Lock()
				seen[dst]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return seen
}

// sendUDP sends one datagram from the target namespace to each address.
func sendUDP(t *testing.T, ns string, addrs ...netip.Addr) {
	t.Helper()
	netns.InNS(t, ns, func() error {
		for _, a := range addrs {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
			if err != nil {
				return err
			}
			_, err = c.Write([]byte("replaygw"))
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func TestOpenCloseNetns(t *testing.T) {
	for _, mode := range []string{RedirectTC, RedirectForwarding} {
		t.Run(mode, func(t *testing.T) {
			v4 := netip.MustParsePrefix("10.88.7.0/24")
			v6 := netip.MustParsePrefix("fd88::/120")
			l := netns.NewPair(t, nsPrefix, v4.String(), v6.String())
			name := l.Link("u")
			dir := t.TempDir()
			cfg := Config{
				Name: name, Queues: 2, MTU: 1400, TxQueueLen: 4000,
				Pools: []netip.Prefix{v4, v6}, Ingress: l.VethG, Redirect: mode, StateDir: dir,
			}
			if mode == RedirectTC {
				cfg.Ingress = "" // found: every up interface but lo and the TUN
			}
			var tun *Tunnel
			netns.InNS(t, l.GW, func() (err error) {
				tun, err = Open(cfg)
				return err
			})
			t.Cleanup(func() { netns.InNS(t, l.GW, tun.Close) })

			if got := tun.RedirectMode(); got != mode {
				t.Fatalf("RedirectMode() = %s, want %s", got, mode)
			}
			if got := tun.Ingress(); len(got) != 1 || got[0] != l.VethG {
				t.Fatalf("Ingress() = %v, want [%s]", got, l.VethG)
			}
			if len(tun.Queues()) != 2 {
				t.Fatalf("%d queues, want 2", len(tun.Queues()))
			}
			link := netns.Sh(t, "ip", "-n", l.GW, "-d", "link", "show", name)
			for _, want := range []string{"mtu 1400", "qlen 4000", "multi_queue", ",UP"} {
				if !strings.Contains(link, want) {
					t.Errorf("link %s lacks %q:\n%s", name, want, link)
				}
			}
			if r := netns.Sh(t, "ip", "-n", l.GW, "route", "show", "dev", name); !strings.Contains(r, v4.String()) {
				t.Errorf("no IPv4 pool route: %q", r)
			}
			if r := netns.Sh(t, "ip", "-n", l.GW, "-6", "route", "show", "dev", name); !strings.Contains(r, v6.String()) {
				t.Errorf("no IPv6 pool route: %q", r)
			}
			filters := netns.Sh(t, "tc", "-n", l.GW, "filter", "show", "dev", l.VethG, "ingress")
			if mode == RedirectTC {
				if n := strings.Count(filters, "mirred"); n != 2 {
					t.Errorf("%d mirred filters, want 2:\n%s", n, filters)
				}
			} else {
				if strings.Contains(filters, "mirred") {
					t.Errorf("forwarding mode installed filters:\n%s", filters)
				}
				if v := netns.Sysctl(t, l.GW, "net/ipv4/conf/"+l.VethG+"/forwarding"); v != "1" {
					t.Errorf("ingress ipv4 forwarding = %s, want 1", v)
				}
			}
			if v := netns.Sysctl(t, l.GW, "net/ipv4/ip_forward"); v != "0" {
				t.Fatalf("gateway ip_forward = %s, want 0", v)
			}
			if _, err := os.Stat(nsStatePath(t, l.GW, dir, name)); err != nil {
				t.Errorf("state file: %v", err)
			}

			// Responses to the pool reach the TUN with ip_forward=0.
			a4, a6 := netip.MustParseAddr("10.88.7.5"), netip.MustParseAddr("fd88::5")
			done := make(chan map[netip.Addr]int)
			go func() { done <- drain(tun.Queues(), 1500*time.Millisecond) }()
			time.Sleep(100 * time.Millisecond)
			sendUDP(t, l.Tgt, a4, a6, a4, a6)
			seen := <-done
			if seen[a4] != 2 || seen[a6] != 2 {
				t.Errorf("TUN saw %v, want 2 packets to each of %s and %s", seen, a4, a6)
			}

			netns.InNS(t, l.GW, tun.Close)
			assertClean(t, l, name, dir)
		})
	}
}

// assertClean checks that nothing of the tunnel is left in the gateway
// namespace.
func assertClean(t *testing.T, l *netns.Pair, name, dir string) {
	t.Helper()
	if err := exec.Command("ip", "-n", l.GW, "link", "show", name).Run(); err == nil {
		t.Errorf("TUN %s still exists", name)
	}
	if r := netns.Sh(t, "ip", "-n", l.GW, "route", "show", "10.88.0.0/16"); strings.TrimSpace(r) != "" {
		t.Errorf("routes left: %q", r)
	}
	if q := netns.Sh(t, "tc", "-n", l.GW, "qdisc", "show", "dev", l.VethG); strings.Contains(q, "clsact") {
		t.Errorf("clsact left: %q", q)
	}
	if f := netns.Sh(t, "tc", "-n", l.GW, "filter", "show", "dev", l.VethG, "ingress"); strings.TrimSpace(f) != "" {
		t.Errorf("filters left: %q", f)
	}
	for _, key := range []string{"net/ipv4/conf/" + l.VethG + "/forwarding", "net/ipv6/conf/" + l.VethG + "/force_forwarding", "net/ipv4/ip_forward"} {
		if v := netns.Sysctl(t, l.GW, key); v != "0" {
			t.Errorf("%s = %s after close, want 0", key, v)
		}
	}
	if _, err := os.Stat(nsStatePath(t, l.GW, dir, name)); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}
}

// TestCrashRecoveryNetns simulates a crashed gateway (queues closed, nothing
// else undone), then checks that Open cleans the stale state and that Down
// from "another process" removes everything, even with the TUN still open.
func TestCrashRecoveryNetns(t *testing.T) {
	v4 := netip.MustParsePrefix("10.88.9.0/24")
	l := netns.NewPair(t, nsPrefix, v4.String())
	name := l.Link("u")
	dir := t.TempDir()
	cfg := Config{Name: name, Pools: []netip.Prefix{v4}, Ingress: l.VethG, Redirect: RedirectForwarding, AnswerPing: true, StateDir: dir}

	var crashed *Tunnel
	netns.InNS(t, l.GW, func() (err error) {
		crashed, err = Open(cfg)
		return err
	})
	if v := netns.Sysctl(t, l.GW, "net/ipv4/conf/"+l.VethG+"/forwarding"); v != "1" {
		t.Fatalf("forwarding = %s, want 1", v)
	}
	closeFiles(crashed.Queues()) // the process "dies": the TUN goes, the rest stays

	// Second run in tc mode: the stale forwarding sysctl must be restored.
	cfg.Redirect = RedirectTC
	var tun *Tunnel
	netns.InNS(t, l.GW, func() (err error) {
		tun, err = Open(cfg)
		return err
	})
	t.Cleanup(func() { netns.InNS(t, l.GW, tun.Close) })
	if v := netns.Sysctl(t, l.GW, "net/ipv4/conf/"+l.VethG+"/forwarding"); v != "0" {
		t.Errorf("stale forwarding = %s after reopen, want 0", v)
	}
	if v := netns.Sysctl(t, l.GW, "net/ipv4/conf/"+name+"/forwarding"); v != "1" {
		t.Errorf("AnswerPing: TUN forwarding = %s, want 1", v)
	}
	filters := netns.Sh(t, "tc", "-n", l.GW, "filter", "show", "dev", l.VethG, "ingress")
	if n := strings.Count(filters, "mirred"); n != 1 {
		t.Fatalf("%d filters after reopen, want 1:\n%s", n, filters)
	}

	// Reinstall keeps exactly one filter bound to the TUN.
	netns.InNS(t, l.GW, tun.Reinstall)
	filters = netns.Sh(t, "tc", "-n", l.GW, "filter", "show", "dev", l.VethG, "ingress")
	if n := strings.Count(filters, "mirred"); n != 1 || !strings.Contains(filters, "to device "+name) {
		t.Fatalf("after Reinstall:\n%s", filters)
	}

	netns.InNS(t, l.GW, func() error { return Down(dir, name) })
	assertClean(t, l, name, dir)
	netns.InNS(t, l.GW, tun.Close) // after Down, Close finds nothing left to undo
	assertClean(t, l, name, dir)
}

// A route of the host's to exactly a pool is replaced while the tunnel is
// open and restored by Close, and by Down after a crash.
func TestDisplacedRouteRestored(t *testing.T) {
	v4 := netip.MustParsePrefix("10.88.11.0/24")
	v6 := netip.MustParsePrefix("fd88:11::/120")
	for _, crash := range []bool{false, true} {
		name := "close"
		if crash {
			name = "crash-then-down"
		}
		t.Run(name, func(t *testing.T) {
			l := netns.NewPair(t, nsPrefix)
			tunName := l.Link("d")
			netns.Sh(t, "ip", "-n", l.GW, "route", "add", v4.String(), "via", l.TgtIP4, "dev", l.VethG)
			netns.Sh(t, "ip", "-n", l.GW, "-6", "route", "add", v6.String(), "via", "fd7a::2", "dev", l.VethG)
			show := func() string {
				return netns.Sh(t, "ip", "-n", l.GW, "route", "show", v4.String()) +
					netns.Sh(t, "ip", "-n", l.GW, "-6", "route", "show", v6.String())
			}
			before := show()
			dir := t.TempDir()
			cfg := Config{Name: tunName, Pools: []netip.Prefix{v4, v6}, Ingress: l.VethG, Redirect: RedirectTC, StateDir: dir}
			var tun *Tunnel
			netns.InNS(t, l.GW, func() (err error) {
				tun, err = Open(cfg)
				return err
			})
			during := show()
			if strings.Contains(during, "via") || strings.Count(during, "dev "+tunName) != 2 {
				t.Fatalf("while open, the pool routes are\n%s\nwant both into %s", during, tunName)
			}
			if crash {
				closeFiles(tun.Queues()) // the process "dies": the TUN goes, the rest stays
				netns.InNS(t, l.GW, func() error { return Down(dir, tunName) })
			} else {
				netns.InNS(t, l.GW, tun.Close)
			}
			if after := show(); after != before {
				t.Fatalf("routes after teardown\n%s\nwant as before\n%s", after, before)
			}
		})
	}
}
