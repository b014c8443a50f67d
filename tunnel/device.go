package tunnel

import (
	"errors"
	"fmt"
	"os"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// openQueues creates the TUN (IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE) and attaches
// n queues to it, each an O_NONBLOCK descriptor that is not registered with
// the Go netpoller (see unpolled). The device is not persistent: it
// disappears with its last queue.
func openQueues(name string, n int) ([]*os.File, error) {
	files := make([]*os.File, 0, n)
	for i := range n {
		ifce, err := water.New(water.Config{
			DeviceType: water.TUN,
			PlatformSpecificParams: water.PlatformSpecificParams{
				Name:       name,
				MultiQueue: true,
			},
		})
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("tunnel: open %s queue %d: %w", name, i, err)
		}
		f, ok := ifce.ReadWriteCloser.(*os.File)
		if !ok {
			ifce.Close()
			closeFiles(files)
			return nil, fmt.Errorf("tunnel: open %s queue %d: water returned %T, not *os.File", name, i, ifce.ReadWriteCloser)
		}
		u, err := unpolled(f)
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("tunnel: open %s queue %d: %w", name, i, err)
		}
		files = append(files, u)
	}
	return files, nil
}

// unpolled replaces f (water's file, which the Go netpoller watches) by a
// file on the same queue that it does not watch, with O_NONBLOCK set. A
// watched descriptor wakes the runtime's poller thread for every packet
// the kernel queues, whether or not a goroutine waits for it; the absorber
// reads an unwatched queue on its own schedule (a tick while traffic
// flows) and asks the poller for a wake-up only when it goes idle
// (absorb/reader.go). Reads return EAGAIN when the queue is empty; read
// deadlines are not supported.
func unpolled(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	nfd := -1
	cerr := rc.Control(func(fd uintptr) { nfd, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) })
	f.Close() // the queue stays attached: nfd still refers to it
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("dup queue: %w", err)
	}
	// O_NONBLOCK is shared by both descriptors (one open file): clear it
	// so that os.NewFile does not register nfd with the netpoller, then
	// set it again.
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("queue blocking: %w", err)
	}
	u := os.NewFile(uintptr(nfd), f.Name())
	if err := unix.SetNonblock(nfd, true); err != nil {
		u.Close()
		return nil, fmt.Errorf("queue non-blocking: %w", err)
	}
	return u, nil
}

func closeFiles(files []*os.File) error {
	var errs []error
	for _, f := range files {
		if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// configureLink sets MTU and txqueuelen and brings the TUN up.
func configureLink(name string, mtu, txqlen int) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("tunnel: find %s: %w", name, err)
	}
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return nil, fmt.Errorf("tunnel: %s: set mtu %d: %w", name, mtu, err)
	}
	if err := netlink.LinkSetTxQLen(link, txqlen); err != nil {
		return nil, fmt.Errorf("tunnel: %s: set txqueuelen %d: %w", name, txqlen, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("tunnel: %s: set up: %w", name, err)
	}
	return netlink.LinkByName(name) // refreshed attributes (index, flags)
}

// deleteLink removes the TUN if it still exists (another process's Down, or
// a persistent leftover). A missing link is not an error.
func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("tunnel: find %s: %w", name, err)
	}
	if link.Type() != "tuntap" {
		return fmt.Errorf("tunnel: %s is a %s, not a TUN; not deleting it", name, link.Type())
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("tunnel: delete %s: %w", name, err)
	}
	return nil
}
