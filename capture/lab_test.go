package capture

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// vethLab is two network namespaces joined by a veth pair:
// A (10.251.0.1, fd00:251::1, MAC 02:..:0a) and B (.2, ::2, MAC 02:..:0b).
type vethLab struct {
	nsA, nsB string
	vA, vB   string
}

var labSeq atomic.Int32

func newVethLab(t *testing.T) *vethLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	n := labSeq.Add(1)
	l := &vethLab{
		nsA: fmt.Sprintf("rgC%da%d", os.Getpid(), n), nsB: fmt.Sprintf("rgC%db%d", os.Getpid(), n),
		vA: fmt.Sprintf("rgC%dA%d", os.Getpid(), n), vB: fmt.Sprintf("rgC%dB%d", os.Getpid(), n),
	}
	for _, ns := range []string{l.nsA, l.nsB} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "link", "add", l.vA, "netns", l.nsA, "type", "veth", "peer", "name", l.vB, "netns", l.nsB)
	for _, c := range []struct{ ns, dev, mac, v4, v6 string }{
		{l.nsA, l.vA, "02:00:00:00:00:0a", "10.251.0.1/24", "fd00:251::1/64"},
		{l.nsB, l.vB, "02:00:00:00:00:0b", "10.251.0.2/24", "fd00:251::2/64"},
	} {
		sh(t, "ip", "-n", c.ns, "link", "set", c.dev, "address", c.mac)
		sh(t, "ip", "-n", c.ns, "addr", "add", c.v4, "dev", c.dev)
		sh(t, "ip", "-n", c.ns, "addr", "add", c.v6, "dev", c.dev, "nodad")
		sh(t, "ip", "-n", c.ns, "link", "set", c.dev, "up")
	}
	return l
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// inNS runs fn on a thread switched into namespace ns. Sockets opened by fn
// stay in ns wherever they are used later.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread() // a thread left in ns dies with the goroutine
		}
	}()
	fn()
}

// injector writes raw Ethernet frames onto an interface of the namespace it
// was opened in.
type injector struct{ fd int }

func newInjector(t *testing.T, ns, dev string) *injector {
	t.Helper()
	var inj *injector
	inNS(t, ns, func() {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			t.Fatal(err)
		}
		inj = &injector{fd}
	})
	t.Cleanup(func() { unix.Close(inj.fd) })
	return inj
}

func (i *injector) send(t *testing.T, frame []byte) {
	t.Helper()
	if _, err := unix.Write(i.fd, frame); err != nil {
		t.Fatalf("inject: %v", err)
	}
}
