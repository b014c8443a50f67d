package netnstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
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
		var ln net.Listener
		InNS(t, p.GW, func() (err error) {
			ln, err = net.Listen("tcp", p.GWIP4+":0")
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
		InNS(t, p.Tgt, func() error {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			return c.Close()
		})
		if err := <-accepted; err != nil {
			t.Fatal(err)
		}

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
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	var inside string
	InNS(t, ns, func() error {
		h, err := netns.Get()
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
		after, err := netns.Get()
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
