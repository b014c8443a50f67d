package wire

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// QuietConn returns c reading and writing with raw read(2)/write(2) calls
// (syscall.RawSyscall) on its non-blocking socket, waiting in the
// netpoller as usual when the socket has nothing to read or no room, so
// deadlines and Close work as before. c is returned unchanged when it has
// no file descriptor (net.Pipe, test doubles).
//
// Why: an ordinary syscall made after every goroutine of the process was
// idle wakes the Go runtime's sysmon thread, which then sleeps in 20µs
// steps for a millisecond or more before it backs off. A control channel
// carries a burst of records every capture block (2 ms) at everyday
// rates, so each burst kept sysmon busy in both processes; the raw calls
// (which never block: the socket is non-blocking) leave it asleep.
func QuietConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &quietConn{Conn: c, rc: rc}
}

type quietConn struct {
	net.Conn
	rc syscall.RawConn
}

func (c *quietConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait in the netpoller until readable
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *quietConn) Write(b []byte) (int, error) {
	n := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait in the netpoller until writable
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

func (c *quietConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
