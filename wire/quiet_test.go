package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// quietPair returns both ends of a loopback TCP connection, the client's
// end through QuietConn.
func quietPair(t *testing.T) (quiet, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	q := QuietConn(c)
	if _, ok := q.(*quietConn); !ok {
		t.Fatalf("QuietConn(%T) did not wrap it", c)
	}
	t.Cleanup(func() { q.Close(); s.Close() })
	return q, s
}

// A quiet connection moves data both ways through full socket buffers,
// reports the peer's close as EOF, and keeps deadlines and Close.
func TestQuietConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: far beyond the socket buffers
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, q, p net.Conn)
	}{
		{"write through full buffers", func(t *testing.T, q, p net.Conn) {
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(p); got <- b }()
			if n, err := q.Write(big); n != len(big) || err != nil {
				t.Fatalf("Write: %d, %v", n, err)
			}
			q.Close()
			if b := <-got; !bytes.Equal(b, big) {
				t.Fatalf("peer read %d bytes, not the %d written", len(b), len(big))
			}
		}},
		{"read until EOF", func(t *testing.T, q, p net.Conn) {
			go func() { p.Write(big); p.Close() }()
			b, err := io.ReadAll(q)
			if err != nil || !bytes.Equal(b, big) {
				t.Fatalf("read %d bytes, %v", len(b), err)
			}
		}},
		{"read deadline", func(t *testing.T, q, p net.Conn) {
			q.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			var ne net.Error
			if _, err := q.Read(make([]byte, 10)); !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("Read past the deadline: %v, want a timeout", err)
			}
		}},
		{"write deadline", func(t *testing.T, q, p net.Conn) {
			q.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			var ne net.Error
			if _, err := q.Write(big); !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("Write to a peer that reads nothing: %v, want a timeout", err)
			}
		}},
		{"close ends a waiting read", func(t *testing.T, q, p net.Conn) {
			done := make(chan error, 1)
			go func() { _, err := q.Read(make([]byte, 10)); done <- err }()
			time.Sleep(20 * time.Millisecond)
			q.Close()
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, p := quietPair(t)
			tc.run(t, q, p)
		})
	}
	if c1, c2 := net.Pipe(); QuietConn(c1) != c1 {
		c2.Close()
		t.Fatal("QuietConn wrapped a conn without a file descriptor")
	}
}
