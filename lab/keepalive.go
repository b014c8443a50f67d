package lab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"
)

// KeepAlive is a set of keep-alive connections from the client host to one
// server, for tests that send on the same connections before and after the
// copier starts (mid-stream join).
type KeepAlive struct {
	t  TB
	w  *loadWorker
	cs []kaConn
}

type kaConn struct {
	c  net.Conn
	br *bufio.Reader
}

// OpenKeepAlive dials n connections from the client host to addr; they are
// closed when the test ends.
func OpenKeepAlive(t TB, l *Lab, addr string, n int) *KeepAlive {
	t.Helper()
	dial, err := l.Dialer(Client)
	if err != nil {
		t.Fatal(err)
	}
	k := &KeepAlive{t: t, w: &loadWorker{o: &LoadOptions{Addr: addr}}}
	for range n {
		c, err := dial.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		k.cs = append(k.cs, kaConn{c, bufio.NewReader(c)})
	}
	return k
}

// Send makes n uniquely numbered requests on every connection and returns
// their ids ("<phase>-<conn>-<n>").
func (k *KeepAlive) Send(phase string, n int) []string {
	k.t.Helper()
	var ids []string
	for i, kc := range k.cs {
		for j := range n {
			id := fmt.Sprintf("%s-%d-%d", phase, i, j)
			_ = kc.c.SetDeadline(time.Now().Add(5 * time.Second))
			if err := k.w.roundTrip(kc.c, kc.br, id, false); err != nil {
				k.t.Fatalf("request %s on connection %d: %v", id, i, err)
			}
			ids = append(ids, id)
		}
	}
	return ids
}
