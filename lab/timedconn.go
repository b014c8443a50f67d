package lab

import (
	"net"
	"sync/atomic"
	"time"
)

// timedListener wraps accepted connections in timedConn.
type timedListener struct {
	net.Listener
	s *IDServer
}

func (l *timedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &timedConn{Conn: c, s: l.s}, nil
}

// timedConn measures request-to-response time on one HTTP/1.1 connection:
// the first read returning data after a response (or at the start) opens a
// request, the next write closes it. Read and Write may run on different
// goroutines (net/http reads in the background), hence the atomic.
type timedConn struct {
	net.Conn
	s     *IDServer
	start atomic.Int64 // unix nanoseconds of the pending request; 0 = none
}

func (c *timedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.start.CompareAndSwap(0, time.Now().UnixNano())
	}
	return n, err
}

func (c *timedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if t := c.start.Swap(0); t != 0 && n > 0 {
		c.s.recordLatency(time.Duration(time.Now().UnixNano() - t))
	}
	return n, err
}
