package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Filter selects the client→service packets to capture.
type Filter struct {
	// Dst are the routes' "from" services: TCP packets whose destination
	// address and port equal one of them are captured. Port 0 matches every
	// port of the address.
	Dst []netip.AddrPort
	// Src are the services whose responses are captured too (routes whose
	// protocol compares or rewrites against production's answers): TCP
	// packets whose source address and port equal one of them, including
	// the frames this host sends when the service runs here. Port 0 matches
	// every port of the address.
	Src []netip.AddrPort
}

// endpoint is one address test of the filter: the destination (a client's
// packet to a service) or the source (a service's answer).
type endpoint struct {
	ap  netip.AddrPort
	src bool
}

// Snaplen is what the kernel filter keeps of each accepted frame: enough for
// GRO/TSO super-packets (64 KiB IP + link headers) with room to spare.
const Snaplen = 256 << 10

// packetOutgoing is skb->pkt_type for frames this host sends (PACKET_OUTGOING).
const packetOutgoing = 4

// BuildFilter assembles the classic BPF program that accepts IPv4/IPv6 TCP
// packets (first fragments only for IPv4, no IPv6 extension headers) whose
// destination is one of f.Dst, for Ethernet frames with or without one VLAN
// tag (lt = layers.LinkTypeEthernet) or bare IP packets (lt =
// layers.LinkTypeRaw). It returns Snaplen for an accepted packet and 0 for
// everything else.
func BuildFilter(f Filter, lt layers.LinkType) ([]bpf.RawInstruction, error) {
	prog, err := filterProgram(f, lt)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(prog)
}

// liveFilter is BuildFilter preceded by a check on the frames this host
// sends (skb->pkt_type, a kernel extension the x/net VM cannot run): they
// are dropped, so that the copier never captures its own packets, except
// the answers of f.Src when the online service runs on this host.
func liveFilter(f Filter, lt layers.LinkType) ([]bpf.RawInstruction, error) {
	prog, err := filterProgram(f, lt)
	if err != nil {
		return nil, err
	}
	head := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
	if len(f.Src) > 0 {
		out, err := filterProgram(Filter{Src: f.Src}, lt)
		if err != nil {
			return nil, err
		}
		// Outgoing: the answers only (every path of out returns); else the
		// whole program, past out by an unconditional jump.
		head = []bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 1},
			bpf.Jump{Skip: uint32(len(out))},
		}
		head = append(head, out...)
	}
	return bpf.Assemble(append(head, prog...))
}

// asm is a tiny assembler: unconditional jumps go to labels resolved at the
// end (their 32-bit offsets reach anywhere); conditional jumps only skip a
// few instructions inside a block, which keeps them under the 8-bit limit
// whatever the number of routes.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	fixups map[int]string
}

func (a *asm) emit(ins ...bpf.Instruction) { a.ins = append(a.ins, ins...) }
func (a *asm) label(name string)           { a.labels[name] = len(a.ins) }
func (a *asm) jump(name string) {
	a.fixups[len(a.ins)] = name
	a.ins = append(a.ins, bpf.Jump{})
}

// dispatch jumps to label when A == val and falls through otherwise.
func (a *asm) dispatch(val uint32, label string) {
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: val, SkipFalse: 1})
	a.jump(label)
}

func (a *asm) resolve() ([]bpf.Instruction, error) {
	for at, name := range a.fixups {
		to, ok := a.labels[name]
		if !ok || to <= at {
			return nil, fmt.Errorf("capture: filter: bad label %q", name)
		}
		a.ins[at] = bpf.Jump{Skip: uint32(to - at - 1)}
	}
	return a.ins, nil
}

func filterProgram(f Filter, lt layers.LinkType) ([]bpf.Instruction, error) {
	if len(f.Dst) == 0 && len(f.Src) == 0 {
		return nil, errors.New("capture: filter: no destination services")
	}
	var v4, v6 []endpoint
	add := func(d netip.AddrPort, src bool) error {
		a := d.Addr().Unmap()
		switch {
		case a.Is4():
			v4 = append(v4, endpoint{netip.AddrPortFrom(a, d.Port()), src})
		case a.Is6():
			v6 = append(v6, endpoint{d, src})
		default:
			return fmt.Errorf("capture: filter: invalid service %v", d)
		}
		return nil
	}
	for _, d := range f.Dst {
		if err := add(d, false); err != nil {
			return nil, err
		}
	}
	for _, d := range f.Src {
		if err := add(d, true); err != nil {
			return nil, err
		}
	}
	a := &asm{labels: map[string]int{}, fixups: map[int]string{}}
	reject := bpf.RetConstant{Val: 0}
	switch lt {
	case layers.LinkTypeEthernet:
		a.emit(bpf.LoadAbsolute{Off: 12, Size: 2})
		a.dispatch(0x0800, "v4@14")
		a.dispatch(0x86dd, "v6@14")
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8100, SkipTrue: 1}, reject)
		a.emit(bpf.LoadAbsolute{Off: 16, Size: 2})
		a.dispatch(0x0800, "v4@18")
		a.dispatch(0x86dd, "v6@18")
		a.emit(reject)
		a.label("v4@14")
		ipv4Block(a, 14, v4)
		a.label("v6@14")
		ipv6Block(a, 14, v6)
		a.label("v4@18")
		ipv4Block(a, 18, v4)
		a.label("v6@18")
		ipv6Block(a, 18, v6)
	case layers.LinkTypeRaw, LinkTypeRawBSD, LinkTypeRawOpenBSD:
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
		a.dispatch(4, "v4@0")
		a.dispatch(6, "v6@0")
		a.emit(reject)
		a.label("v4@0")
		ipv4Block(a, 0, v4)
		a.label("v6@0")
		ipv6Block(a, 0, v6)
	default:
		return nil, fmt.Errorf("capture: filter: link type %v: %w", lt, errUnsupportedL)
	}
	return a.resolve()
}

// ipv4Block accepts TCP first fragments at IP offset base whose destination
// (or source) is one of dst.
func ipv4Block(a *asm, base uint32, dst []endpoint) {
	reject := bpf.RetConstant{Val: 0}
	if len(dst) == 0 {
		a.emit(reject)
		return
	}
	a.emit(
		bpf.LoadAbsolute{Off: base + 9, Size: 1}, // protocol
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 1},
		reject,
		bpf.LoadAbsolute{Off: base + 6, Size: 2}, // flags + fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipFalse: 1},
		reject,
		bpf.LoadMemShift{Off: base}, // X = IP header length
	)
	for _, e := range dst {
		d := e.ap
		ip := d.Addr().As4()
		addrOff, portOff := uint32(16), uint32(2) // destination address, TCP destination port
		if e.src {
			addrOff, portOff = 12, 0
		}
		a.emit(bpf.LoadAbsolute{Off: base + addrOff, Size: 4})
		if d.Port() == 0 {
			a.emit(bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(ip[:]), SkipTrue: 1})
		} else {
			a.emit(
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(ip[:]), SkipTrue: 3},
				bpf.LoadIndirect{Off: base + portOff, Size: 2},
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(d.Port()), SkipTrue: 1},
			)
		}
		a.emit(bpf.RetConstant{Val: Snaplen})
	}
	a.emit(reject)
}

// ipv6Block accepts TCP (next header 6) at IP offset base whose destination
// (or source) is one of dst.
func ipv6Block(a *asm, base uint32, dst []endpoint) {
	reject := bpf.RetConstant{Val: 0}
	if len(dst) == 0 {
		a.emit(reject)
		return
	}
	a.emit(
		bpf.LoadAbsolute{Off: base + 6, Size: 1}, // next header
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 1},
		reject,
	)
	for _, e := range dst {
		d := e.ap
		ip := d.Addr().As16()
		addrOff, portOff := uint32(24), uint32(42) // destination address, TCP destination port
		if e.src {
			addrOff, portOff = 8, 40
		}
		// Instructions left in this route after each address word's test:
		// the remaining words (2 each), the port test (2) and the return.
		tail := uint8(3)
		if d.Port() == 0 {
			tail = 1
		}
		for w := 0; w < 4; w++ {
			a.emit(
				bpf.LoadAbsolute{Off: base + addrOff + uint32(4*w), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(ip[4*w:]), SkipTrue: tail + uint8(2*(3-w))},
			)
		}
		if d.Port() != 0 {
			a.emit(
				bpf.LoadAbsolute{Off: base + portOff, Size: 2},
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(d.Port()), SkipTrue: 1},
			)
		}
		a.emit(bpf.RetConstant{Val: Snaplen})
	}
	a.emit(reject)
}
