package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	vns "github.com/vishvananda/netns"
)

func TestUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		u := Unique("rgN")
		if !strings.HasPrefix(u, fmt.Sprintf("rgN%d", os.Getpid())) || len(u) > 14 || seen[u] {
			t.Fatalf("Unique = %q (seen before: %v)", u, seen[u])
		}
		seen[u] = true
	}
}

func TestSysctlPath(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward"},
		{"net.ipv4.conf.all.rp_filter", "/proc/sys/net/ipv4/conf/all/rp_filter"},
		{"net/ipv4/conf/eth0.100/forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding"},
	} {
		if got := sysctlPath(tc.key); got != tc.want {
			t.Errorf("sysctlPath(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestPair checks the veth carries TCP between the namespaces, the pools
// are routed, sysctls are per namespace, and Cleanup removes everything.
func TestPair(t *testing.T) {
	RequireRoot(t)
	var p *Pair
	t.Run("build", func(t *testing.T) {
		p = NewPair(t, "rgN", "10.77.0.0/24", "fd77::/64")
		if r := Sh(t, "ip", "-n", p.Tgt, "route", "show", "10.77.0.0/24"); !strings.Contains(r, "via "+p.GWIP4) {
			t.Fatalf("pool route in %s: %q", p.Tgt, r)
		}
		if r := Sh(t, "ip", "-n", p.Tgt, "-6", "route", "show", "fd77::/64"); !strings.Contains(r, "via fd7a::1") {
			t.Fatalf("v6 pool route in %s: %q", p.Tgt, r)
		}
		connect(t, p.Tgt, p.GW, p.GWIP4+":0")

		root, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		if err != nil {
			t.Fatal(err)
		}
		want := "1"
		if strings.TrimSpace(string(root)) == "1" {
			want = "0"
		}
		SetSysctl(t, p.GW, "net.ipv4.ip_forward", want)
		if v := strings.TrimSpace(Exec(t, p.GW, "cat", "/proc/sys/net/ipv4/ip_forward")); v != want {
			t.Fatalf("ip_forward in %s = %q after SetSysctl %s", p.GW, v, want)
		}
		if v := Sysctl(t, p.GW, "net/ipv4/ip_forward"); v != want {
			t.Fatalf("Sysctl = %q, want %q", v, want)
		}
		if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(root) {
			t.Fatalf("root ip_forward changed from %q to %q", root, now)
		}
	})
	if p == nil {
		t.Fatal("no pair built")
	}
	for _, ns := range []string{p.GW, p.Tgt} {
		if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
			t.Errorf("namespace %s left after cleanup: %v", ns, err)
		}
	}
}

func TestGoStaysInItsThread(t *testing.T) {
	RequireRoot(t)
	ns := Unique("rgN") + "-x"
	Add(t, ns)
	before, err := vns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	var inside string
	InNS(t, ns, func() error {
		h, err := vns.Get()
		if err != nil {
			return err
		}
		defer h.Close()
		if h.Equal(before) {
			return errors.New("still in the test's namespace")
		}
		inside = h.UniqueId()
		return nil
	})
	for range 20 { // other goroutines never land on the switched thread
		after, err := vns.Get()
		if err != nil {
			t.Fatal(err)
		}
		same := after.Equal(before)
		after.Close()
		if !same {
			t.Fatalf("the caller's namespace changed to %s", inside)
		}
	}
	if err := <-Go(ns, func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Go with a panicking fn = %v", err)
	}
	if err := <-Go(ns+"-missing", func() error { return nil }); err == nil {
		t.Fatal("Go into a missing namespace succeeded")
	}
}

func TestRemoveStale(t *testing.T) {
	RequireRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("rgN%dzz-x", dead.Process.Pid)
	live := Unique("rgN") + "-y"
	Add(t, stale) // its cleanup tolerates the namespace being gone
	Add(t, live)
	RemoveStale("rgN")
	if _, err := os.Stat("/run/netns/" + stale); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s kept: %v", stale, err)
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("live namespace %s removed: %v", live, err)
	}
}

// TestVeth checks both ends get their MAC, addresses and link state, the
// loopbacks are up, and TCP crosses the veth in both families.
func TestVeth(t *testing.T) {
	RequireRoot(t)
	id := Unique("rgN")
	a := End{NS: id + "-a", Dev: id + "A", MAC: "02:00:00:00:4e:0a", Addrs: []string{"10.78.0.1/24", "fd78::1/64"}}
	b := End{NS: id + "-b", Dev: id + "B", MAC: "02:00:00:00:4e:0b", Addrs: []string{"10.78.0.2/24", "fd78::2/64"}}
	Add(t, a.NS)
	Add(t, b.NS)
	Veth(t, a, b)
	for _, e := range []End{a, b} {
		link := Sh(t, "ip", "-n", e.NS, "-o", "link", "show", "dev", e.Dev)
		if !strings.Contains(link, "link/ether "+e.MAC) || !strings.Contains(link, ",UP") {
			t.Errorf("%s in %s: %q", e.Dev, e.NS, link)
		}
		if lo := Sh(t, "ip", "-n", e.NS, "-o", "link", "show", "dev", "lo"); !strings.Contains(lo, ",UP") {
			t.Errorf("lo in %s: %q", e.NS, lo)
		}
		addrs := Sh(t, "ip", "-n", e.NS, "-o", "addr", "show", "dev", e.Dev)
		for _, want := range e.Addrs {
			found := false
			for _, line := range strings.Split(addrs, "\n") {
				// Usable at once: no duplicate address detection pending.
				found = found || strings.Contains(line, " "+want+" ") && !strings.Contains(line, "tentative")
			}
			if !found {
				t.Errorf("%s in %s lacks a usable %s: %q", e.Dev, e.NS, want, addrs)
			}
		}
	}
	connect(t, b.NS, a.NS, "10.78.0.1:0")
	connect(t, b.NS, a.NS, "[fd78::1]:0")
}

// connect opens a TCP connection from namespace client to a listener on
// addr in namespace server and fails the test unless it is accepted.
func connect(t *testing.T, client, server, addr string) {
	t.Helper()
	var ln net.Listener
	InNS(t, server, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	InNS(t, client, func() error {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}
