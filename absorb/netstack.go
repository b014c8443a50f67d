package absorb

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const nicID tcpip.NICID = 1

// newNetstack builds the promiscuous, spoofing netstack behind ep. The
// default handlers are installed before CreateNIC (which attaches the
// endpoint), so no packet can be dispatched without them.
func (s *Stack) newNetstack(ep gstack.LinkEndpoint) (*gstack.Stack, error) {
	ns := gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []gstack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	// Returning true claims the packet: a declined TCP segment makes
	// netstack send a RST that would reach the target and kill its real
	// session; a declined UDP datagram makes it send a port unreachable.
	ns.SetTransportProtocolHandler(tcp.ProtocolNumber, s.tcpViaStack)
	ns.SetTransportProtocolHandler(udp.ProtocolNumber, func(gstack.TransportEndpointID, *gstack.PacketBuffer) bool {
		s.shared.UDPAbsorbed.Add(1)
		return true
	})
	// Claiming ICMP echo requests also skips netstack's own echo reply
	// (it answered ICMPv6 echoes to the pool; gvisor PR #11609).
	absorbICMP := func(gstack.TransportEndpointID, *gstack.PacketBuffer) bool {
		s.shared.ICMPAbsorbed.Add(1)
		return true
	}
	ns.SetTransportProtocolHandler(icmp.ProtocolNumber4, absorbICMP)
	ns.SetTransportProtocolHandler(icmp.ProtocolNumber6, absorbICMP)
	if err := ns.CreateNIC(nicID, ep); err != nil {
		ns.Destroy()
		return nil, fmt.Errorf("absorb: create NIC: %v", err)
	}
	// Promiscuous: accept any destination (assigning 65,536 pool addresses
	// one by one collapses netstack to ~300 pps). Spoofing: allow sending
	// from them, should a feature ever need it.
	if err := ns.SetPromiscuousMode(nicID, true); err != nil {
		ns.Destroy()
		return nil, fmt.Errorf("absorb: promiscuous mode: %v", err)
	}
	if err := ns.SetSpoofing(nicID, true); err != nil {
		ns.Destroy()
		return nil, fmt.Errorf("absorb: spoofing: %v", err)
	}
	ns.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	return ns, nil
}

// tcpViaStack absorbs the TCP segments that needed the netstack (IPv4
// fragments, IPv6 extension headers) and reports them like the fast path.
// It runs on the reader goroutine that injected the packet.
func (s *Stack) tcpViaStack(id gstack.TransportEndpointID, pb *gstack.PacketBuffer) bool {
	var v pkt.View
	v.Src, _ = netip.AddrFromSlice(id.RemoteAddress.AsSlice())
	v.Dst, _ = netip.AddrFromSlice(id.LocalAddress.AsSlice())
	if err := pkt.ParseTCP(pb.TransportHeader().Slice(), &v); err != nil {
		s.shared.Malformed.Add(1)
		return true
	}
	var r wire.Record
	fill(&r, &v, 0)
	data := pb.Data()
	r.PayloadLen = uint16(data.Size())
	if s.cfg.PayloadCap > 0 && data.Size() > 0 {
		r.Payload = data.AsRange().Capped(s.cfg.PayloadCap).ToSlice()
	}
	r.Time = time.Now().UnixNano()
	s.shared.TCPViaStack.Add(1)
	s.shared.TCPAbsorbed.Add(1)
	s.h(&r)
	return true
}
