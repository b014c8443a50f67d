package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
)

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func poolRoute(linkIndex int, p netip.Prefix) *netlink.Route {
	return &netlink.Route{LinkIndex: linkIndex, Dst: ipNet(p), Scope: netlink.SCOPE_LINK}
}

// addRoutes routes every pool into the TUN (RouteReplace, so a leftover
// route is taken over).
func addRoutes(st *state, linkIndex int, pools []netip.Prefix) error {
	for _, p := range pools {
		st.Routes = append(st.Routes, p.String())
		if err := st.save(); err != nil {
			return err
		}
		if err := netlink.RouteReplace(poolRoute(linkIndex, p)); err != nil {
			return fmt.Errorf("tunnel: add route %s: %w", p, err)
		}
	}
	return nil
}

// delRoutes removes the pool routes that still point at the TUN. Routes
// that vanished with the device are not errors.
func delRoutes(tun string, routes []string) error {
	link, err := netlink.LinkByName(tun)
	if err != nil {
		return nil // the routes went with the device
	}
	var errs []error
	for _, r := range routes {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("tunnel: route %q in state: %w", r, err))
			continue
		}
		err = netlink.RouteDel(poolRoute(link.Attrs().Index, p))
		if err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("tunnel: delete route %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
