package copier

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RawSender sends complete IP packets through raw sockets with
// IP_HDRINCL (IPv4) and IPV6_HDRINCL (IPv6): the kernel routes them, fills
// in nothing, and the packet leaves exactly as the engine built it. One
// socket per family is shared by all callers: sendto on a socket is atomic,
// so Send needs no lock and is safe for concurrent use.
type RawSender struct {
	log    *slog.Logger
	fd4    int
	fd6    int
	stats  SendStats
	closeM sync.Mutex
	closed bool
}

// NewRawSender opens the IPv4 and IPv6 raw sockets (needs CAP_NET_RAW). A
// host without IPv6 gets an IPv4-only sender (IPv6 sends fail, counted).
func NewRawSender(opts SenderOptions) (*RawSender, error) {
	opts.defaults()
	s := &RawSender{log: opts.Logger, fd4: -1, fd6: -1}
	var err error
	if s.fd4, err = rawSocket(unix.AF_INET, opts); err != nil {
		return nil, fmt.Errorf("copier: raw sender: IPv4 socket: %w", err)
	}
	if s.fd6, err = rawSocket(unix.AF_INET6, opts); err != nil {
		if !errors.Is(err, unix.EAFNOSUPPORT) {
			unix.Close(s.fd4)
			return nil, fmt.Errorf("copier: raw sender: IPv6 socket: %w", err)
		}
		s.log.Warn("raw sender: no IPv6 on this host; IPv6 packets will fail", "err", err)
		s.fd6 = -1
	}
	return s, nil
}

func rawSocket(family int, opts SenderOptions) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return -1, err
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	if family == unix.AF_INET {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1)
	}
	if err != nil {
		return fail("set HDRINCL", err)
	}
	if err := setSendBuffer(fd, opts); err != nil {
		return fail("send buffer", err)
	}
	// The socket only sends: nothing should ever queue on its receive side.
	if err := unix.Shutdown(fd, unix.SHUT_RD); err != nil && !errors.Is(err, unix.ENOTCONN) {
		return fail("shutdown read", err)
	}
	return fd, nil
}

// setSendBuffer sizes the send buffer (beyond wmem_max when privileged) and
// bounds how long a send may block on it.
func setSendBuffer(fd int, opts SenderOptions) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, opts.SendBuffer); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opts.SendBuffer); err != nil {
			return err
		}
	}
	tv := unix.NsecToTimeval(opts.SendTimeout.Nanoseconds())
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}

// Send transmits one IP packet to the address in its header. Errors (an
// unix.Errno, or ErrInvalidPacket) are counted by reason and returned; none
// is fatal. It does not allocate.
func (s *RawSender) Send(pkt []byte) error {
	var err error
	switch ipVersion(pkt) {
	case 4:
		var sa unix.RawSockaddrInet4
		sa.Family = unix.AF_INET
		copy(sa.Addr[:], pkt[16:20])
		err = sendto(s.fd4, pkt, unsafe.Pointer(&sa), unix.SizeofSockaddrInet4)
	case 6:
		var sa unix.RawSockaddrInet6
		sa.Family = unix.AF_INET6
		copy(sa.Addr[:], pkt[24:40])
		err = sendto(s.fd6, pkt, unsafe.Pointer(&sa), unix.SizeofSockaddrInet6)
	default:
		err = ErrInvalidPacket
	}
	if err != nil {
		return s.stats.fail(s.log, "raw", err)
	}
	s.stats.ok(len(pkt))
	return nil
}

// sendto is sendto(2) without the allocation unix.Sendto makes for its
// Sockaddr interface.
func sendto(fd int, b []byte, sa unsafe.Pointer, salen uintptr) error {
	if fd < 0 {
		return unix.EAFNOSUPPORT
	}
	flags := uintptr(unix.MSG_DONTWAIT)
	for {
		var e unix.Errno
		if flags != 0 {
			_, _, e = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), flags, uintptr(sa), salen)
		} else {
			_, _, e = unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(sa), salen)
		}
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if flags != 0 {
				flags = 0 // the buffer is full: wait for room, as long as SendTimeout
				continue
			}
		}
		return e
	}
}

// Quiet sends: a packet is first sent with MSG_DONTWAIT through
// unix.RawSyscall, which does not tell the Go runtime it is in a system
// call. An ordinary syscall made when every goroutine was idle wakes the
// runtime's sysmon thread, which then polls in 20 µs steps for a
// millisecond or more; at everyday rates each capture block's burst of
// sends did that (a fifth of the copier's CPU in a profile). A raw socket
// send does not block with MSG_DONTWAIT; only when its buffer is full
// (EAGAIN) is the send repeated as an ordinary, blocking syscall, bounded
// by the socket's SO_SNDTIMEO.

// SendBatch transmits several packets with one sendmmsg(2) per family (up to
// 64 per call), for callers that have a burst ready (a GRO super-packet split
// to the MSS). It returns how many were sent and the first error; packets
// after a failed one are retried one by one so that each failure is counted.
func (s *RawSender) SendBatch(pkts [][]byte) (int, error) {
	b := batchPool.Get().(*mmsgBatch)
	defer batchPool.Put(b)
	sent := 0
	var first error
	for _, fam := range [2]int{4, 6} {
		b.n = 0
		flush := func() {
			n := b.send(s.fdFor(fam))
			for i := 0; i < n; i++ {
				s.stats.ok(int(b.iov[i].Len))
			}
			sent += n
			// The one sendmmsg stopped at (or could not start at) gets its
			// error counted; the rest go one by one.
			if n < b.n {
				sendEach(b.pkt[n:b.n], s.Send, &sent, &first)
			}
			b.reset()
		}
		for _, p := range pkts {
			v := ipVersion(p)
			if v == 0 && fam == 4 {
				if first == nil {
					first = s.stats.fail(s.log, "raw", ErrInvalidPacket)
				}
				continue
			}
			if v != fam {
				continue
			}
			b.add(p)
			if b.n == len(b.msgs) {
				flush()
			}
		}
		if b.n > 0 {
			flush()
		}
	}
	return sent, first
}

// sendEach sends pkts one by one with send (after a batch stopped at the
// first of them), counting the sent ones and keeping the first error.
func sendEach(pkts [][]byte, send func([]byte) error, sent *int, first *error) {
	for _, p := range pkts {
		if err := send(p); err != nil {
			if *first == nil {
				*first = err
			}
		} else {
			*sent++
		}
	}
}

func (s *RawSender) fdFor(fam int) int {
	if fam == 4 {
		return s.fd4
	}
	return s.fd6
}

// mmsgBatch holds the sendmmsg arguments for up to 64 packets of one family.
type mmsgBatch struct {
	n    int
	msgs [64]unix.Mmsghdr
	iov  [64]unix.Iovec
	sa   [64]unix.RawSockaddrInet6 // big enough for either family
	pkt  [64][]byte
}

var batchPool = sync.Pool{New: func() any { return new(mmsgBatch) }}

func (b *mmsgBatch) add(p []byte) {
	i := b.n
	b.pkt[i] = p
	b.iov[i].Base = &p[0]
	b.iov[i].SetLen(len(p))
	b.sa[i] = unix.RawSockaddrInet6{}
	m := &b.msgs[i]
	*m = unix.Mmsghdr{}
	m.Hdr.Iov = &b.iov[i]
	m.Hdr.SetIovlen(1)
	m.Hdr.Name = (*byte)(unsafe.Pointer(&b.sa[i]))
	if p[0]>>4 == 4 {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.sa[i]))
		sa.Family = unix.AF_INET
		copy(sa.Addr[:], p[16:20])
		m.Hdr.Namelen = unix.SizeofSockaddrInet4
	} else {
		b.sa[i].Family = unix.AF_INET6
		copy(b.sa[i].Addr[:], p[24:40])
		m.Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	b.n++
}

// send runs sendmmsg until all are sent or one fails; it returns how many
// were sent (the caller retries the rest one by one to learn the error).
func (b *mmsgBatch) send(fd int) int { return sendmmsgQuiet(fd, b.msgs[:b.n]) }

// sendmmsgQuiet runs sendmmsg(2) on msgs until all are sent or one fails
// and returns how many were sent: quietly (see sendto) with MSG_DONTWAIT,
// and as an ordinary, blocking call only while the socket's buffer is full.
func sendmmsgQuiet(fd int, msgs []unix.Mmsghdr) int {
	if fd < 0 {
		return 0
	}
	done := 0
	quiet := true
	for done < len(msgs) {
		var r uintptr
		var e unix.Errno
		if quiet {
			r, _, e = unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[done])), uintptr(len(msgs)-done), unix.MSG_DONTWAIT, 0, 0)
		} else {
			r, _, e = unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[done])), uintptr(len(msgs)-done), 0, 0, 0)
		}
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN && quiet:
			quiet = false
			continue
		case e != 0 || r == 0:
			return done
		}
		done += int(r)
		quiet = true
	}
	return done
}

// reset drops the references to the packets.
func (b *mmsgBatch) reset() {
	for i := range b.pkt[:b.n] {
		b.pkt[i] = nil
		b.iov[i].Base = nil
	}
	b.n = 0
}

// Stats returns the sender's counters.
func (s *RawSender) Stats() *SendStats { return &s.stats }

// Close closes the sockets. Call it after the last Send has returned.
func (s *RawSender) Close() error {
	s.closeM.Lock()
	defer s.closeM.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, fd := range []*int{&s.fd4, &s.fd6} {
		if *fd >= 0 {
			errs = append(errs, unix.Close(*fd))
			*fd = -1
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("copier: raw sender close: %w", err)
	}
	return nil
}
