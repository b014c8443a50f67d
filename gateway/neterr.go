package gateway

import (
	"errors"
	"io"
	"net"
	"syscall"
)

var errTooManyFiles = syscall.EMFILE

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isProtocolError reports whether a ReadFrame error is the peer's framing
// fault (a zero or oversized length) rather than the connection ending.
func isProtocolError(err error) bool {
	var ne net.Error
	return !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		!errors.Is(err, net.ErrClosed) && !errors.As(err, &ne) && !errors.Is(err, syscall.ECONNRESET)
}
