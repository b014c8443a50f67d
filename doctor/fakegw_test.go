package doctor

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
)

// fakeGateway is a stand-in for `replaygw up` (gateway.NewGateway is
// another package's work): it creates the TUN, accepts copiers with the
// handshake, takes route registrations and reports every TCP segment read
// from the TUN for a registered tuple as a record.
type fakeGateway struct {
	ln  net.Listener
	tun *os.File

	mu     sync.Mutex
	routes map[wire.Tuple]*fakeConn
	conns  map[*fakeConn]bool

	routesAdded atomic.Int64
	wg          sync.WaitGroup
	closeOnce   sync.Once
}

type fakeConn struct {
	c  *wire.Conn
	mu sync.Mutex
}

// startFakeGateway must be called on a thread inside the gateway's
// namespace; the TUN and listener stay there.
func startFakeGateway(token string) (*fakeGateway, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(tunName)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	ln, err := net.Listen("tcp", ":36524")
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	g := &fakeGateway{ln: ln, tun: os.NewFile(uintptr(fd), tunName),
		routes: make(map[wire.Tuple]*fakeConn), conns: make(map[*fakeConn]bool)}
	g.wg.Add(2)
	go g.accept(token)
	go g.readTUN()
	return g, nil
}

func (g *fakeGateway) Close() {
	g.closeOnce.Do(func() {
		g.ln.Close()
		g.tun.Close()
		g.mu.Lock()
		for c := range g.conns {
			c.c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
}

func (g *fakeGateway) accept(token string) {
	defer g.wg.Done()
	for {
		nc, err := g.ln.Accept()
		if err != nil {
			return
		}
		c := &fakeConn{c: wire.NewConn(nc)}
		g.mu.Lock()
		g.conns[c] = true
		g.mu.Unlock()
		g.wg.Add(1)
		go g.serve(c, token)
	}
}

func (g *fakeGateway) serve(c *fakeConn, token string) {
	defer g.wg.Done()
	defer func() {
		c.c.Close()
		g.mu.Lock()
		delete(g.conns, c)
		for t, o := range g.routes {
			if o == c {
				delete(g.routes, t)
			}
		}
		g.mu.Unlock()
	}()
	if _, err := wire.Handshake(c.c, wire.Hello{Role: wire.RoleGateway, Name: "fake"}, []byte(token), 2*time.Second); err != nil {
		return
	}
	for {
		typ, body, err := c.c.ReadFrame()
		if err != nil {
			return
		}
		switch typ {
		case wire.TypeLeaseAdd:
			wire.Batch(body, func(_ int, e []byte) (int, error) {
				t, _, n, err := wire.DecodeLeaseAdd(e)
				if err == nil {
					g.mu.Lock()
					g.routes[t] = c
					g.mu.Unlock()
					g.routesAdded.Add(1)
				}
				return n, err
			})
		case wire.TypeLeaseRelease:
			wire.Batch(body, func(_ int, e []byte) (int, error) {
				t, n, err := wire.DecodeLeaseRelease(e)
				if err == nil {
					g.mu.Lock()
					delete(g.routes, t)
					g.mu.Unlock()
				}
				return n, err
			})
		case wire.TypePing:
			c.mu.Lock()
			c.c.WriteFrame(wire.TypePong, body)
			c.c.Flush()
			c.mu.Unlock()
		}
	}
}

func (g *fakeGateway) readTUN() {
	defer g.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := g.tun.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		r, ok := recordFrom(buf[:n])
		if !ok {
			continue
		}
		g.mu.Lock()
		c := g.routes[r.Tuple]
		g.mu.Unlock()
		if c == nil {
			continue
		}
		body := wire.EndBatch(wire.AppendRecord(wire.BeginBatch(nil), &r, 0), 1)
		c.mu.Lock()
		c.c.WriteFrame(wire.TypeRecords, body)
		c.c.Flush()
		c.mu.Unlock()
	}
}

// recordFrom parses an IPv4 or IPv6 TCP segment read from the TUN into the
// record a gateway reports (the client is the destination).
func recordFrom(b []byte) (wire.Record, bool) {
	var v pkt.View
	if pkt.Parse(b, &v) != nil {
		return wire.Record{}, false
	}
	return wire.Record{
		Tuple: wire.Tuple{Client: v.DstAddrPort(), Target: v.SrcAddrPort()},
		Seq:   uint32(v.Seq), Ack: uint32(v.Ack), Window: v.Window,
		Flags: uint8(v.Flags), Time: time.Now().UnixNano(),
	}, true
}
