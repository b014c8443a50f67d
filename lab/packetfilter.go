package lab

import (
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// prefixFilter is a classic BPF program for a SOCK_DGRAM packet socket
// that accepts IPv4 and IPv6 packets whose destination lies in one of the
// prefixes and rejects everything else. Offsets are taken from the network
// header (SKF_NET_OFF), so the program reads the same bytes for received
// and for sent frames.
func prefixFilter(prefixes []netip.Prefix) ([]bpf.RawInstruction, error) {
	const (
		netOff  = 0xfff00000 // SKF_NET_OFF (-0x100000) as the kernel's unsigned k
		v4Dst   = 16
		v6Dst   = 24
		version = 0
	)
	// Each prefix is a run of word comparisons: on any mismatch jump to
	// the next prefix (patched below), after the last word accept.
	type word struct{ off, val, mask uint32 }
	var v4, v6 [][]word
	for _, p := range prefixes {
		p = p.Masked()
		a := p.Addr().AsSlice()
		var ws []word
		for i, bits := 0, p.Bits(); i < len(a)/4 && bits > 0; i++ {
			n := min(bits, 32)
			bits -= n
			mask := ^uint32(0) << (32 - n)
			val := uint32(a[4*i])<<24 | uint32(a[4*i+1])<<16 | uint32(a[4*i+2])<<8 | uint32(a[4*i+3])
			off := uint32(v4Dst)
			if p.Addr().Is6() {
				off = v6Dst
			}
			ws = append(ws, word{off: off + uint32(4*i), val: val & mask, mask: mask})
		}
		if p.Addr().Is6() {
			v6 = append(v6, ws)
		} else {
			v4 = append(v4, ws)
		}
	}
	accept := bpf.RetConstant{Val: 0xffff}
	reject := bpf.RetConstant{Val: 0}
	// family emits the checks of one address family; every failed run
	// falls through to the next one, the last to reject.
	family := func(runs [][]word) []bpf.Instruction {
		var out []bpf.Instruction
		for _, ws := range runs {
			var run []bpf.Instruction
			for _, w := range ws {
				run = append(run, bpf.LoadAbsolute{Off: netOff + w.off, Size: 4})
				if w.mask != ^uint32(0) {
					run = append(run, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: w.mask})
				}
				run = append(run, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: w.val}) // SkipTrue patched
			}
			run = append(run, accept)
			for i, ins := range run {
				if j, ok := ins.(bpf.JumpIf); ok {
					j.SkipTrue = uint8(len(run) - i - 1)
					run[i] = j
				}
			}
			out = append(out, run...)
		}
		return append(out, reject)
	}
	f4, f6 := family(v4), family(v6)
	if len(f4) > 255 || len(f6) > 255 { // a conditional jump skips at most 255
		return nil, fmt.Errorf("lab: packet filter: %d prefixes is too many", len(prefixes))
	}
	// A holds the IP version until a family's checks begin; each family
	// block ends in accept or reject, so the version test of IPv6 is only
	// reached, with A intact, when the version was not 4.
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: netOff + version, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipFalse: uint8(len(f4))},
	}
	prog = append(prog, f4...)
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipFalse: uint8(len(f6))})
	prog = append(prog, f6...)
	prog = append(prog, reject)
	return bpf.Assemble(prog)
}

// attachFilter sets prefixFilter on the packet socket fd.
func attachFilter(fd int, prefixes []netip.Prefix) error {
	raw, err := prefixFilter(prefixes)
	if err != nil {
		return err
	}
	fs := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		fs[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fp := unix.SockFprog{Len: uint16(len(fs)), Filter: (*unix.SockFilter)(unsafe.Pointer(&fs[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}
