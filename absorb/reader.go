package absorb

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/replaygw/replaygw/wire"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// bufSize holds any packet a TUN without IFF_VNET_HDR can deliver.
const bufSize = 65536

// reader drains one TUN queue.
type reader struct {
	s     *Stack
	id    int
	f     *os.File
	rc    syscall.RawConn
	buf   []byte      // read buffer, reused for every packet
	reply []byte      // echo reply scratch, allocated only with AnswerPing
	rec   wire.Record // reused for every fast-path segment
	stats Stats       // written by this reader only
	err   error       // set inside the read callback
}

func newReader(s *Stack, id int, f *os.File) (*reader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("absorb: queue %d: %w", id, err)
	}
	// Also clears a deadline left by an earlier Stack on the same file.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("absorb: queue %d is not pollable (open it O_NONBLOCK): %w", id, err)
	}
	r := &reader{s: s, id: id, f: f, rc: rc, buf: make([]byte, bufSize)}
	if s.cfg.AnswerPing {
		r.reply = make([]byte, bufSize)
	}
	return r, nil
}

// run reads until the Stack closes. Inside one RawConn.Read it reads as
// many packets as are queued, with a plain read(2) each, and only goes back
// to the netpoller when the queue is empty (EAGAIN).
func (r *reader) run() {
	log := r.s.log.With("queue", r.id)
	for {
		err := r.rc.Read(r.drain)
		if r.s.closing.Load() {
			return
		}
		if err == nil {
			err, r.err = r.err, nil
		}
		if err == nil {
			continue
		}
		inc(&r.stats.ReadErrors)
		if errors.Is(err, os.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
			errors.Is(err, unix.EBADFD) || errors.Is(err, unix.EBADF) || errors.Is(err, unix.EIO) {
			log.Error("absorb: queue stopped", "err", err) // the TUN went away
			return
		}
		log.Warn("absorb: read", "err", err)
		time.Sleep(10 * time.Millisecond)
	}
}

// drain is the RawConn.Read callback: false means "wait until readable".
func (r *reader) drain(fd uintptr) bool {
	for {
		n, err := readRaw(fd, r.buf)
		switch err {
		case 0:
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			continue
		default:
			r.err = err
			return true
		}
		r.packet(fd, r.buf[:n])
		if r.s.closing.Load() {
			return true
		}
	}
}

// readRaw is read(2) on the non-blocking fd without telling the Go
// scheduler (RawSyscall): the call never blocks, and an ordinary syscall
// after the process has been idle wakes the runtime's sysmon thread, which
// then polls every 20µs for a millisecond or more. At everyday rates a
// burst of responses every capture block (2 ms) kept sysmon busy most of
// the time; the raw read keeps it asleep.
func readRaw(fd uintptr, b []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errno
}

// packet handles one packet read from the TUN.
func (r *reader) packet(fd uintptr, pkt []byte) {
	inc(&r.stats.PacketsRead)
	r.stats.BytesRead.Store(r.stats.BytesRead.Load() + uint64(len(pkt)))
	err := Extract(pkt, &r.rec, r.s.cfg.PayloadCap)
	switch err {
	case nil:
		r.rec.Time = time.Now().UnixNano()
		inc(&r.stats.TCPAbsorbed)
		r.s.h(&r.rec)
		r.rec.Payload = nil
		return
	case ErrNotTCP, ErrFragment:
	default:
		inc(&r.stats.Malformed)
		return
	}
	if r.reply != nil {
		if n := echoReply(pkt, r.reply, r.s.cfg.Pools); n > 0 {
			inc(&r.stats.EchoRequests)
			if _, werr := unix.Write(int(fd), r.reply[:n]); werr != nil {
				inc(&r.stats.WriteErrors)
			} else {
				inc(&r.stats.WritesAllowed)
			}
			return
		}
	}
	r.inject(pkt)
}

// inject hands a packet to the netstack. InjectInbound delivers it
// synchronously on this goroutine; the netstack gets its own copy.
func (r *reader) inject(pkt []byte) {
	proto := header.IPv4ProtocolNumber
	if pkt[0]>>4 == 6 {
		proto = header.IPv6ProtocolNumber
	}
	pb := gstack.NewPacketBuffer(gstack.PacketBufferOptions{Payload: buffer.MakeWithData(pkt)})
	inc(&r.stats.ToStack)
	r.s.ep.InjectInbound(proto, pb)
	pb.DecRef()
}
