package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// prioBase is the first tc priority tried for our filters; each pool takes
// the next free one, so two gateways can share an ingress interface.
const prioBase = 49152

// ingressLinks resolves Config.Ingress: a comma-separated list of names, or
// every interface that is up except lo and the TUN.
func ingressLinks(spec, tun string) ([]string, error) {
	if spec != "" {
		var names []string
		for n := range strings.SplitSeq(spec, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if _, err := netlink.LinkByName(n); err != nil {
				return nil, fmt.Errorf("tunnel: ingress %s: %w", n, err)
			}
			names = append(names, n)
		}
		return names, nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("tunnel: list links: %w", err)
	}
	var names []string
	for _, l := range links {
		a := l.Attrs()
		if a.Name == tun || a.Flags&net.FlagLoopback != 0 || a.Flags&net.FlagUp == 0 {
			continue
		}
		names = append(names, a.Name)
	}
	if len(names) == 0 {
		return nil, errors.New("tunnel: no ingress interface is up")
	}
	return names, nil
}

// u32Keys builds the u32 match "network-header destination in p". Offsets
// are from the network header: 16 for IPv4, 24..36 for IPv6. Key masks and
// values are host-order numbers; netlink swaps them.
func u32Keys(p netip.Prefix) []netlink.TcU32Key {
	addr := p.Addr().AsSlice()
	off := int32(16)
	if p.Addr().Is6() {
		off = 24
	}
	var keys []netlink.TcU32Key
	for i := 0; i < len(addr)/4; i++ {
		bits := min(max(p.Bits()-32*i, 0), 32)
		if bits == 0 {
			break
		}
		mask := ^uint32(0) << (32 - bits)
		val := binary.BigEndian.Uint32(addr[4*i:]) & mask
		keys = append(keys, netlink.TcU32Key{Mask: mask, Val: val, Off: off + int32(4*i)})
	}
	if len(keys) == 0 { // /0: match every packet of the family
		keys = append(keys, netlink.TcU32Key{Off: off})
	}
	return keys
}

func poolProtocol(p netip.Prefix) uint16 {
	if p.Addr().Is6() {
		return unix.ETH_P_IPV6
	}
	return unix.ETH_P_IP
}

// ingressParent finds the qdisc to hang ingress filters on: an existing
// clsact or ingress qdisc, or a clsact we create (and record).
func ingressParent(st *state, link netlink.Link) (uint32, error) {
	qs, err := netlink.QdiscList(link)
	if err != nil {
		return 0, fmt.Errorf("tunnel: %s: list qdiscs: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		switch q.Type() {
		case "clsact":
			return netlink.HANDLE_MIN_INGRESS, nil
		case "ingress":
			return netlink.HANDLE_INGRESS, nil
		}
	}
	name := link.Attrs().Name
	st.Qdiscs = append(st.Qdiscs, name)
	if err := st.save(); err != nil {
		return 0, err
	}
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: link.Attrs().Index,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := netlink.QdiscAdd(q); err != nil {
		return 0, fmt.Errorf("tunnel: %s: add clsact qdisc: %w", name, err)
	}
	return netlink.HANDLE_MIN_INGRESS, nil
}

// installFilters adds, on every ingress interface, one u32 filter per pool
// that redirects pool-bound packets to the TUN (mirred egress redirect).
func installFilters(st *state, ingress []string, tunIndex int, pools []netip.Prefix) error {
	for _, name := range ingress {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("tunnel: ingress %s: %w", name, err)
		}
		parent, err := ingressParent(st, link)
		if err != nil {
			return err
		}
		used, err := usedPriorities(link, parent)
		if err != nil {
			return err
		}
		prio := uint16(prioBase)
		for _, p := range pools {
			for used[prio] {
				prio++
			}
			used[prio] = true
			ref := filterRef{Link: name, Parent: parent, Priority: prio, Protocol: poolProtocol(p), Pool: p.String()}
			st.Filters = append(st.Filters, ref)
			if err := st.save(); err != nil {
				return err
			}
			f := &netlink.U32{
				FilterAttrs: netlink.FilterAttrs{
					LinkIndex: link.Attrs().Index,
					Parent:    parent,
					Priority:  prio,
					Protocol:  ref.Protocol,
				},
				Sel:     &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Keys: u32Keys(p)},
				Actions: []netlink.Action{netlink.NewMirredAction(tunIndex)},
			}
			if err := netlink.FilterAdd(f); err != nil {
				return fmt.Errorf("tunnel: %s: add u32 redirect filter for %s: %w", name, p, err)
			}
		}
	}
	return nil
}

func usedPriorities(link netlink.Link, parent uint32) (map[uint16]bool, error) {
	fs, err := netlink.FilterList(link, parent)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %s: list filters: %w", link.Attrs().Name, err)
	}
	used := make(map[uint16]bool, len(fs))
	for _, f := range fs {
		used[f.Attrs().Priority] = true
	}
	return used, nil
}

// removeFilters deletes our filters (whole priority bands) and the clsact
// qdiscs we created. Interfaces or filters that are gone are not errors.
func removeFilters(filters []filterRef, qdiscs []string) error {
	var errs []error
	for _, f := range filters {
		link, err := netlink.LinkByName(f.Link)
		if err != nil {
			continue
		}
		err = netlink.FilterDel(&netlink.GenericFilter{
			FilterAttrs: netlink.FilterAttrs{
				LinkIndex: link.Attrs().Index,
				Parent:    f.Parent,
				Priority:  f.Priority,
				Protocol:  f.Protocol,
			},
			FilterType: "u32",
		})
		if err != nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("tunnel: %s: delete filter prio %d: %w", f.Link, f.Priority, err))
		}
	}
	for _, name := range qdiscs {
		link, err := netlink.LinkByName(name)
		if err != nil {
			continue
		}
		err = netlink.QdiscDel(&netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{
				LinkIndex: link.Attrs().Index,
				Handle:    netlink.MakeHandle(0xffff, 0),
				Parent:    netlink.HANDLE_CLSACT,
			},
			QdiscType: "clsact",
		})
		if err != nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("tunnel: %s: delete clsact qdisc: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// forwardingKeys lists the sysctls that let the kernel route pool-bound
// packets arriving on ingress into the TUN with ip_forward=0: per-interface
// IPv4 forwarding, and for IPv6 force_forwarding (Linux 6.17+; IPv6 has no
// other per-interface switch).
func forwardingKeys(ingress string, pools []netip.Prefix) ([]string, error) {
	var v4, v6 bool
	for _, p := range pools {
		if p.Addr().Is6() {
			v6 = true
		} else {
			v4 = true
		}
	}
	var keys []string
	if v4 {
		keys = append(keys, "net/ipv4/conf/"+ingress+"/forwarding")
	}
	if v6 {
		k := "net/ipv6/conf/" + ingress + "/force_forwarding"
		if !sysctlExists(k) {
			return nil, fmt.Errorf("tunnel: %s: IPv6 pools need %s (Linux 6.17+) in forwarding mode; use redirect tc", ingress, k)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func enableForwarding(st *state, ingress []string, pools []netip.Prefix) error {
	for _, name := range ingress {
		keys, err := forwardingKeys(name, pools)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := setSysctl(st, k, "1"); err != nil {
				return err
			}
		}
	}
	return nil
}
