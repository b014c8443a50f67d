package absorb

import (
	"errors"
	"fmt"
	"os"
	"sync"
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

// While packets flow, a reader drains its queue once per pollTick instead
// of once per packet: the queue files are not watched by the Go netpoller
// (tunnel.Tunnel.Queues), so a packet the kernel queues wakes nobody, and
// one wake-up of the gateway (a timer) handles everything that arrived in
// the last tick; the Flush hook then sends it on as one record frame per
// copier. At 1,000 requests/s the target's ~3,000 packets a second used to
// wake the gateway ~2,600 times; the tick makes it at most 1,000. After
// idleTicks ticks without a packet the reader asks the netpoller to wake
// it for the next one (a watched duplicate of the queue, made for the wait
// and closed after it), so an idle gateway does not tick at all. A packet
// waits at most a tick (plus the runtime's timer granularity) in the
// queue, which holds txqueuelen packets (10,000 by default).
const (
	pollTick  = time.Millisecond
	idleTicks = 16
)

// reader drains one TUN queue.
type reader struct {
	s     *Stack
	id    int
	fd    uintptr     // the queue's descriptor (the file is the tunnel's)
	buf   []byte      // read buffer, reused for every packet
	reply []byte      // echo reply scratch, allocated only with AnswerPing
	rec   wire.Record // reused for every fast-path segment
	stats Stats       // written by this reader only

	mu     sync.Mutex
	waiter *os.File // the watched duplicate while waiting for a packet
}

func newReader(s *Stack, id int, f *os.File) (*reader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("absorb: queue %d: %w", id, err)
	}
	r := &reader{s: s, id: id, buf: make([]byte, bufSize)}
	var nberr error
	if err := rc.Control(func(fd uintptr) {
		r.fd = fd
		nberr = unix.SetNonblock(int(fd), true)
	}); err != nil {
		return nil, fmt.Errorf("absorb: queue %d: %w", id, err)
	}
	if nberr != nil {
		return nil, fmt.Errorf("absorb: queue %d: set non-blocking: %w", id, nberr)
	}
	if s.cfg.AnswerPing {
		r.reply = make([]byte, bufSize)
	}
	return r, nil
}

// run reads until the Stack closes: a drain per tick while packets come,
// a wait in the netpoller when they stop.
func (r *reader) run() {
	log := r.s.log.With("queue", r.id)
	empty := idleTicks // start by waiting
	for !r.s.closing.Load() {
		n, err := r.drain()
		switch {
		case err != nil:
			inc(&r.stats.ReadErrors)
			if errors.Is(err, unix.EBADFD) || errors.Is(err, unix.EBADF) || errors.Is(err, unix.EIO) {
				log.Error("absorb: queue stopped", "err", err) // the TUN went away
				return
			}
			log.Warn("absorb: read", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		case n > 0:
			empty = 0
			if r.s.cfg.Flush != nil {
				r.s.cfg.Flush()
			}
		default:
			empty++
		}
		if empty < idleTicks {
			inc(&r.stats.Ticks)
			time.Sleep(pollTick)
			continue
		}
		if err := r.wait(); err != nil {
			log.Error("absorb: queue stopped", "err", err)
			return
		}
	}
}

// drain reads every packet queued now and returns how many it read.
func (r *reader) drain() (int, error) {
	n := 0
	for !r.s.closing.Load() {
		m, errno := readRaw(r.fd, r.buf)
		switch errno {
		case 0:
		case unix.EAGAIN:
			return n, nil
		case unix.EINTR:
			continue
		default:
			return n, errno
		}
		n++
		r.packet(r.fd, r.buf[:m])
	}
	return n, nil
}

// wait parks in the netpoller until the queue has a packet or the Stack
// closes (Close sets a past deadline on the waiter).
func (r *reader) wait() error {
	nfd, err := unix.FcntlInt(r.fd, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup queue: %w", err)
	}
	w := os.NewFile(uintptr(nfd), "tun-wait") // O_NONBLOCK: watched
	defer w.Close()
	rc, err := w.SyscallConn()
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.s.closing.Load() {
		r.mu.Unlock()
		return nil
	}
	r.waiter = w
	r.mu.Unlock()
	inc(&r.stats.Waits)
	// Adding the descriptor reports it readable at once if a packet came
	// in since the last drain, so none is missed.
	first := true
	err = rc.Read(func(uintptr) bool {
		if first {
			first = false
			return false
		}
		return true
	})
	r.mu.Lock()
	r.waiter = nil
	r.mu.Unlock()
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("wait for queue: %w", err)
	}
	return nil
}

// stop wakes the reader if it waits in the netpoller (closing is set).
func (r *reader) stop() {
	r.mu.Lock()
	if r.waiter != nil {
		r.waiter.SetReadDeadline(time.Unix(1, 0))
	}
	r.mu.Unlock()
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
