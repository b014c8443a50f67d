package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// A ring is one AF_PACKET socket with a TPACKET_V3 receive ring mapped
// into the process. The kernel fills the ring block by block and hands a
// block to user space (TP_STATUS_USER in its descriptor) when it is full
// or its retire timeout has passed; the reader walks the block's frames
// in place and gives the block back (TP_STATUS_KERNEL) when it moves on.
//
// The order of opening matters. A packet socket created for ETH_P_ALL is
// hooked into the receive path at once, and every later step that must
// unhook it (setting up the ring, binding it to an interface) waits for
// an RCU grace period: 7–30 ms each on the lab machine, which is what a
// capture growing under pressure cannot afford (live_grow.go). So the
// socket is created for no protocol (not hooked), gets its ring and its
// filter, and is hooked once, by the bind to the interface: nothing
// unfiltered ever reaches it, and only the ring's set-up waits for a grace
// period (the kernel waits there whether the socket was hooked or not),
// before the socket captures anything. Closing waits for one too, so a
// ring no longer read is closed on a goroutine of its own.
//
// The socket is non-blocking and registered with the Go netpoller: a
// reader with nothing to read parks there (wait) until the kernel signals
// a retired block, without holding a thread in poll(2).
type ring struct {
	fd     int
	f      *os.File // fd in the netpoller
	rc     syscall.RawConn
	mem    []byte
	blocks int

	cur  int    // block being read, or the next one to read
	open bool   // cur is in user space and being read
	left uint32 // frames of cur not yet read
	off  int    // offset in mem of cur's next frame

	counts kernelCounts // PACKET_STATISTICS so far (each read resets the kernel's)

	waitFirst bool
	waitReady func(uintptr) bool // onReady, bound once: no allocation per wait
}

// kernelCounts are a socket's kernel counters since it opened.
type kernelCounts struct{ packets, drops, freezes uint64 }

// ringFrameSize is the nominal frame size the kernel checks the ring
// request against; TPACKET_V3 packs frames of any size into a block.
const ringFrameSize = 4096

// TPACKET_V3 block descriptor (tpacket_block_desc): version and
// offset_to_priv, then tpacket_hdr_v1.
const (
	bdStatusOff = 8  // block_status
	bdPktsOff   = 12 // num_pkts
	bdFirstOff  = 16 // offset_to_first_pkt
)

// openRing opens a ring of blocks blocks of blockSize on the interface
// with index ifindex, the classic BPF filter prog attached (none if empty)
// and blocks retired after tov.
func openRing(ifindex, blocks int, tov time.Duration, prog []bpf.RawInstruction) (*ring, error) {
	r, err := prepareRing(blocks, tov, prog)
	if err != nil {
		return nil, err
	}
	if err := r.bind(ifindex); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// prepareRing is openRing but for the bind: the socket has its ring and
// filter and captures nothing yet. Setting up the ring waits for a grace
// period and allocates the ring (7–16 ms for 16 MiB in the lab), so a
// growth prepares its ring while the reader goes on reading the old one.
func prepareRing(blocks int, tov time.Duration, prog []bpf.RawInstruction) (*ring, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	r := &ring{fd: fd, blocks: blocks}
	fail := func(what string, err error) (*ring, error) {
		if r.mem != nil {
			_ = unix.Munmap(r.mem)
		}
		unix.Close(fd) // not hooked yet: no grace period
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("TPACKET_V3", err)
	}
	req := unix.TpacketReq3{
		Block_size:     blockSize,
		Block_nr:       uint32(blocks),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(blocks * (blockSize / ringFrameSize)),
		Retire_blk_tov: uint32(max(tov.Milliseconds(), 1)),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail(fmt.Sprintf("ring of %d blocks", blocks), err)
	}
	if r.mem, err = unix.Mmap(fd, 0, blocks*blockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fail("map the ring", err)
	}
	if len(prog) > 0 {
		if err := r.setFilter(prog); err != nil {
			return fail("attach filter", err)
		}
	}
	r.f = os.NewFile(uintptr(fd), "packet-ring")
	if r.rc, err = r.f.SyscallConn(); err != nil {
		_ = unix.Munmap(r.mem)
		r.f.Close()
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	r.waitReady = r.onReady
	return r, nil
}

// bind hooks the socket into the receive path of the interface with index
// ifindex: from now on it captures, already filtered. It waits for no
// grace period (the socket was not hooked before).
func (r *ring) bind(ifindex int) error {
	if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fmt.Errorf("bind to interface %d: %w", ifindex, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// setFilter replaces the socket's filter (no grace period is waited for).
func (r *ring) setFilter(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return errors.New("empty filter")
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	return unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp)
}

// ignoreOutgoing asks the kernel to skip the socket for frames this host
// sends (PACKET_IGNORE_OUTGOING, Linux 4.20): they are never cloned for
// it nor run through its filter, which would only drop them. The online
// server's responses and the copier's own packets then cost nothing here.
func (r *ring) ignoreOutgoing() error {
	return unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
}

// joinFanout puts the socket in fanout group id with mode (PACKET_FANOUT_*
// and flags).
func (r *ring) joinFanout(mode int, id uint16) error {
	return unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, mode<<16|int(id))
}

// kernelCounts returns the socket's kernel counters since it opened.
//
// The reader asks each time it goes idle after traffic, when every other
// goroutine may be idle too; an ordinary system call there would wake the
// Go runtime's monitor thread, which then polls for a millisecond or more
// (three more context switches per request at 1,000 req/s in the lab).
// getsockopt(PACKET_STATISTICS) never blocks, so it is made raw.
func (r *ring) kernelCounts() (kernelCounts, error) {
	var st unix.TpacketStatsV3
	n := uint32(unix.SizeofTpacketStatsV3)
	_, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(r.fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return r.counts, fmt.Errorf("PACKET_STATISTICS: %w", errno)
	}
	r.counts.packets += uint64(st.Packets)
	r.counts.drops += uint64(st.Drops)
	r.counts.freezes += uint64(st.Freeze_q_cnt)
	return r.counts, nil
}

func (r *ring) status(block int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[block*blockSize+bdStatusOff]))
}

// userBlock reports whether the kernel handed block to user space.
func (r *ring) userBlock(block int) bool {
	return atomic.LoadUint32(r.status(block))&unix.TP_STATUS_USER != 0
}

// nextBlock is the block the reader takes once the current one is done.
func (r *ring) nextBlock() int {
	if !r.open {
		return r.cur
	}
	if r.cur+1 == r.blocks {
		return 0
	}
	return r.cur + 1
}

// startsBlock reports whether the next frame read opens a new block.
func (r *ring) startsBlock() bool { return r.left == 0 }

// ready reports whether next returns a frame now.
func (r *ring) ready() bool { return r.left > 0 || r.userBlock(r.nextBlock()) }

// backlog counts the retired blocks waiting behind the current one, up to
// limit.
func (r *ring) backlog(limit int) int {
	b := r.nextBlock()
	n := 0
	for n < limit && r.userBlock(b) {
		n++
		if b++; b == r.blocks {
			b = 0
		}
	}
	return n
}

// next returns the next frame (from its link-layer header on, valid until
// the following call), its capture time and its length on the wire; ok is
// false when no block is ready. A block is given back to the kernel when
// the reader moves past its last frame.
func (r *ring) next() (frame []byte, ts time.Time, wire int, ok bool) {
	for r.left == 0 {
		if r.open {
			atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
			r.open = false
			if r.cur++; r.cur == r.blocks {
				r.cur = 0
			}
		}
		if !r.userBlock(r.cur) {
			return nil, time.Time{}, 0, false
		}
		base := r.cur * blockSize
		r.open = true
		r.left = atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.mem[base+bdPktsOff])))
		r.off = base + int(*(*uint32)(unsafe.Pointer(&r.mem[base+bdFirstOff])))
	}
	end := (r.cur + 1) * blockSize
	if r.off < r.cur*blockSize || r.off+unix.SizeofTpacket3Hdr > end {
		r.left = 0 // a descriptor out of its block: give the block back
		return r.next()
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[r.off]))
	start, n := r.off+int(h.Mac), int(h.Snaplen)
	if start+n > end {
		r.left = 0
		return r.next()
	}
	if r.left--; r.left > 0 {
		r.off += int(h.Next_offset)
	}
	return r.mem[start : start+n : start+n], time.Unix(int64(h.Sec), int64(h.Nsec)), int(h.Len), true
}

// onReady asks to wait on its first call and stops on the second (after
// the netpoller saw the socket readable).
func (r *ring) onReady(uintptr) bool {
	if r.waitFirst {
		r.waitFirst = false
		return false
	}
	return true
}

// wait parks until the socket is readable, max has passed or ctx ended
// (nil in every case; the caller just reads again). Whoever ends ctx
// wakes it with wake afterwards.
func (r *ring) wait(ctx context.Context, max time.Duration) error {
	if err := r.f.SetReadDeadline(time.Now().Add(max)); err != nil {
		return fmt.Errorf("ring wait deadline: %w", err)
	}
	if ctx.Err() != nil {
		return nil
	}
	r.waitFirst = true
	err := r.rc.Read(r.waitReady)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return fmt.Errorf("ring wait: %w", err)
}

// wake ends a wait in progress (or the next one) at once.
func (r *ring) wake() { _ = r.f.SetReadDeadline(time.Now()) }

// close unmaps the ring and closes the socket; the kernel waits for a
// grace period before close returns.
func (r *ring) close() {
	_ = unix.Munmap(r.mem)
	r.mem = nil
	r.f.Close()
}
