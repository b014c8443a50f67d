package tunnel

import (
	"errors"
	"fmt"
	"os"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
)

// openQueues creates the TUN (IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE) and attaches
// n queues to it. water opens each fd O_NONBLOCK and wraps it in an
// *os.File, so reads go through the Go netpoller and Close (or a read
// deadline) unblocks them. The device is not persistent: it disappears with
// its last queue.
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
		files = append(files, f)
	}
	return files, nil
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
