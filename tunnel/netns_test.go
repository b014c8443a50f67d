package tunnel

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// Namespace helpers for the root-only tests. Every name starts with rgT and
// the test pid so parallel runs never clash; everything is removed in
// t.Cleanup, also on failure.

var labSeq atomic.Int32

// lab is a pair of namespaces joined by a veth:
//
//	tgt (vethT, 172.31.X.2/30, fd7a::2/64) ── gw (vethG, 172.31.X.1/30, fd7a::1/64)
//
// tgt routes the test pools via gw.
type lab struct {
	gw, tgt      string // namespace names
	vethG, vethT string
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newLab(t *testing.T, pools ...string) *lab {
	t.Helper()
	requireRoot(t)
	n := labSeq.Add(1)
	id := fmt.Sprintf("%d%c", os.Getpid()%1000000, 'a'+rune(n%26))
	l := &lab{
		gw: "rgT-" + id + "-gw", tgt: "rgT-" + id + "-tgt",
		vethG: "rgT" + id + "g", vethT: "rgT" + id + "t",
	}
	for _, ns := range []string{l.gw, l.tgt} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	sub := 4 * (int(n) % 60)
	sh(t, "ip", "-n", l.gw, "link", "add", l.vethG, "type", "veth", "peer", "name", l.vethT, "netns", l.tgt)
	sh(t, "ip", "-n", l.gw, "link", "set", "lo", "up")
	sh(t, "ip", "-n", l.tgt, "link", "set", "lo", "up")
	sh(t, "ip", "-n", l.gw, "addr", "add", fmt.Sprintf("172.31.%d.1/30", sub), "dev", l.vethG)
	sh(t, "ip", "-n", l.tgt, "addr", "add", fmt.Sprintf("172.31.%d.2/30", sub), "dev", l.vethT)
	sh(t, "ip", "-n", l.gw, "addr", "add", "fd7a::1/64", "dev", l.vethG, "nodad")
	sh(t, "ip", "-n", l.tgt, "addr", "add", "fd7a::2/64", "dev", l.vethT, "nodad")
	sh(t, "ip", "-n", l.gw, "link", "set", l.vethG, "up")
	sh(t, "ip", "-n", l.tgt, "link", "set", l.vethT, "up")
	for _, p := range pools {
		via := fmt.Sprintf("172.31.%d.1", sub)
		if strings.Contains(p, ":") {
			via = "fd7a::1"
		}
		sh(t, "ip", "-n", l.tgt, "route", "add", p, "via", via)
	}
	return l
}

// inNS runs fn (which must not call t.Fatal) on a locked OS thread switched into namespace ns. The thread
// is discarded afterwards (never unlocked), so no other goroutine inherits
// the namespace.
func inNS(t *testing.T, ns string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- fn()
	}()
	if err := <-done; err != nil {
		t.Fatalf("in netns %s: %v", ns, err)
	}
}

// nsStatePath is the state file a gateway in namespace ns uses.
func nsStatePath(t *testing.T, ns, dir, name string) string {
	t.Helper()
	var p string
	inNS(t, ns, func() error { p = statePath(dir, name); return nil })
	return p
}
