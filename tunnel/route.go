package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func poolRoute(linkIndex int, p netip.Prefix) *netlink.Route {
	return &netlink.Route{LinkIndex: linkIndex, Dst: ipNet(p), Scope: netlink.SCOPE_LINK}
}

// savedRoute is a route of the main table to exactly a pool, other than
// ours, that our route replaced: it is put back at teardown.
type savedRoute struct {
	Dst      string `json:"dst"`
	Dev      string `json:"dev,omitempty"`
	Gw       string `json:"gw,omitempty"`
	Src      string `json:"src,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Scope    uint8  `json:"scope,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
	Type     int    `json:"type,omitempty"`
}

func (r savedRoute) String() string {
	s := r.Dst
	if r.Gw != "" {
		s += " via " + r.Gw
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	return s
}

// addRoutes routes every pool into the TUN (RouteReplace, so a leftover
// route is taken over). A route of the host's to exactly a pool that ours
// replaces is recorded first and returned, so that teardown restores it.
func addRoutes(st *state, linkIndex int, pools []netip.Prefix) (displaced []savedRoute, err error) {
	for _, p := range pools {
		st.Routes = append(st.Routes, p.String())
		if old, ok := existingRoute(p, linkIndex); ok {
			st.Displace = append(st.Displace, old)
			displaced = append(displaced, old)
		}
		if err := st.save(); err != nil {
			return displaced, err
		}
		if err := netlink.RouteReplace(poolRoute(linkIndex, p)); err != nil {
			return displaced, fmt.Errorf("tunnel: add route %s: %w", p, err)
		}
	}
	return displaced, nil
}

// existingRoute finds the main table's route to exactly p that RouteReplace
// would replace (the metric ours gets: 0 for IPv4, 1024 for IPv6), unless it
// already points at the TUN.
func existingRoute(p netip.Prefix, tunIndex int) (savedRoute, bool) {
	family, metric := netlink.FAMILY_V4, 0
	if p.Addr().Is6() {
		family, metric = netlink.FAMILY_V6, 1024
	}
	rs, err := netlink.RouteListFiltered(family, &netlink.Route{Dst: ipNet(p), Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return savedRoute{}, false
	}
	for _, r := range rs {
		if r.LinkIndex == tunIndex || (r.Priority != metric && r.Priority != 0) {
			continue
		}
		sr := savedRoute{Dst: p.String(), Priority: r.Priority, Scope: uint8(r.Scope), Protocol: int(r.Protocol), Type: r.Type}
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			sr.Dev = l.Attrs().Name
		}
		if r.Gw != nil {
			sr.Gw = r.Gw.String()
		}
		if r.Src != nil {
			sr.Src = r.Src.String()
		}
		return sr, true
	}
	return savedRoute{}, false
}

// restoreRoutes puts back the routes ours displaced (after ours are gone).
// One already back, or whose device is gone, is not an error.
func restoreRoutes(saved []savedRoute) error {
	var errs []error
	for _, sr := range saved {
		p, err := netip.ParsePrefix(sr.Dst)
		if err != nil {
			errs = append(errs, fmt.Errorf("tunnel: displaced route %q in state: %w", sr.Dst, err))
			continue
		}
		r := &netlink.Route{Dst: ipNet(p), Priority: sr.Priority, Scope: netlink.Scope(sr.Scope),
			Protocol: netlink.RouteProtocol(sr.Protocol), Type: sr.Type, Table: unix.RT_TABLE_MAIN}
		if sr.Dev != "" {
			l, err := netlink.LinkByName(sr.Dev)
			if err != nil {
				errs = append(errs, fmt.Errorf("tunnel: restore route %s: device %s: %w", sr, sr.Dev, err))
				continue
			}
			r.LinkIndex = l.Attrs().Index
		}
		if sr.Gw != "" {
			r.Gw = net.ParseIP(sr.Gw)
		}
		if sr.Src != "" {
			r.Src = net.ParseIP(sr.Src)
		}
		if err := netlink.RouteAdd(r); err != nil && !errors.Is(err, syscall.EEXIST) {
			errs = append(errs, fmt.Errorf("tunnel: restore route %s: %w", sr, err))
		}
	}
	return errors.Join(errs...)
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
