package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"
)

// Waiting for the ring in the Go netpoller instead of in poll(2).
// gopacket's reader blocks in a raw poll syscall that holds its thread and
// scheduler slot (P) for up to a block timeout; with one such reader per
// CPU every other goroutine (the engine workers) needs the runtime's
// monitor to take a P back, a thread hand-off per wake-up. Instead the
// sockets are read with a zero poll timeout (ZeroCopyReadPacketData returns
// ErrTimeout when no block is ready, without blocking) and the reader
// parks in the netpoller on a duplicate of the socket, woken by the
// kernel's data-ready signal of each retired block. gopacket does not
// export the socket's descriptor: its field is found by reflection once;
// if that ever fails, the capture falls back to blocking reads.

var fdOffset, fdFound = func() (uintptr, bool) {
	f, ok := reflect.TypeOf(afpacket.TPacket{}).FieldByName("fd")
	if !ok || f.Type.Kind() != reflect.Int {
		return 0, false
	}
	return f.Offset, true
}()

// ringWaiter parks its caller until the socket signals a retired block.
type ringWaiter struct {
	f     *os.File
	rc    syscall.RawConn
	first bool
	ready func(uintptr) bool // w.onReady, bound once (no allocation per wait)
}

// newRingWaiter duplicates tp's descriptor into a non-blocking file the
// netpoller watches; nil (and no error) when the descriptor is unknown.
func newRingWaiter(tp *afpacket.TPacket) (*ringWaiter, error) {
	if !fdFound {
		return nil, nil
	}
	fd := *(*int)(unsafe.Add(unsafe.Pointer(tp), fdOffset))
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("capture: dup ring socket: %w", err)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("capture: ring socket non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(nfd), "afpacket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: ring socket: %w", err)
	}
	w := &ringWaiter{f: f, rc: rc}
	w.ready = w.onReady
	return w, nil
}

// onReady asks to wait on its first call and stops on the second (after
// the netpoller saw the socket readable).
func (w *ringWaiter) onReady(uintptr) bool {
	if w.first {
		w.first = false
		return false
	}
	return true
}

// wait parks until the socket is readable, max has passed or ctx ended
// (nil in every case; the caller just reads again). Whoever ends ctx sets
// a past deadline afterwards to wake it.
func (w *ringWaiter) wait(ctx context.Context, max time.Duration) error {
	if err := w.f.SetReadDeadline(time.Now().Add(max)); err != nil {
		return fmt.Errorf("capture: ring wait deadline: %w", err)
	}
	if ctx.Err() != nil {
		return nil
	}
	w.first = true
	err := w.rc.Read(w.ready)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return fmt.Errorf("capture: ring wait: %w", err)
}

func (w *ringWaiter) close() { w.f.Close() }

// ignoreOutgoing asks the kernel to skip tp for frames this host sends
// (PACKET_IGNORE_OUTGOING, Linux 4.20): they are never cloned for the
// socket nor run through its filter, which would only drop them. The
// online server's responses and the copier's own packets then cost
// nothing here.
func ignoreOutgoing(tp *afpacket.TPacket) error {
	if !fdFound {
		return errors.New("capture: ring socket descriptor unknown")
	}
	fd := *(*int)(unsafe.Add(unsafe.Pointer(tp), fdOffset))
	return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
}
