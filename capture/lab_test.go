package capture

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/lab/netns"
)

// labPrefix starts the name of every namespace and link the capture tests
// create (see netns.Unique).
const labPrefix = "rgC"

// vethLab is two network namespaces joined by a veth pair:
// A (10.251.0.1, fd00:251::1, MAC 02:..:0a) and B (.2, ::2, MAC 02:..:0b).
type vethLab struct {
	id       string // netns.Unique(labPrefix); every name starts with it
	nsA, nsB string
	vA, vB   string
}

func newVethLab(t *testing.T) *vethLab {
	t.Helper()
	netns.RequireRoot(t)
	netns.RemoveStale(labPrefix)
	id := netns.Unique(labPrefix)
	l := &vethLab{id: id, nsA: id + "-a", nsB: id + "-b", vA: id + "A", vB: id + "B"}
	netns.Add(t, l.nsA)
	netns.Add(t, l.nsB)
	netns.Veth(t,
		netns.End{NS: l.nsA, Dev: l.vA, MAC: "02:00:00:00:00:0a", Addrs: []string{"10.251.0.1/24", "fd00:251::1/64"}},
		netns.End{NS: l.nsB, Dev: l.vB, MAC: "02:00:00:00:00:0b", Addrs: []string{"10.251.0.2/24", "fd00:251::2/64"}})
	return l
}

// injector writes raw Ethernet frames onto an interface of the namespace it
// was opened in.
type injector struct{ fd int }

func newInjector(t *testing.T, ns, dev string) *injector {
	t.Helper()
	var inj *injector
	netns.InNS(t, ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		inj = &injector{fd}
		return nil
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
