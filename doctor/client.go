package doctor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/replaygw/replaygw/wire"
	"golang.org/x/sys/unix"
)

// gwClient is a minimal control-channel client: handshake, route add/del,
// and a reader that passes every record on.
type gwClient struct {
	addr string
	c    *wire.Conn
	peer wire.Hello

	wmu  sync.Mutex
	recs chan wire.Record
	pong chan struct{}
	done chan struct{}
	err  error // reader's final error, valid after done
}

// dialGateway connects to addr and runs the handshake; records arrive on
// recs (shared by all gateways, never blocking the reader). The socket is
// created on the calling thread (addr must be an IP literal for that).
func dialGateway(ctx context.Context, addr string, token []byte, timeout time.Duration, recs chan wire.Record) (*gwClient, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	c := wire.NewConn(nc)
	peer, err := wire.Handshake(c, wire.Hello{Role: wire.RoleCopier, Name: "doctor@" + host}, token, timeout)
	if err != nil {
		nc.Close()
		return nil, err
	}
	g := &gwClient{addr: addr, c: c, peer: peer, recs: recs, pong: make(chan struct{}, 1), done: make(chan struct{})}
	go g.read()
	return g, nil
}

func (g *gwClient) read() {
	defer close(g.done)
	for {
		t, body, err := g.c.ReadFrame()
		if err != nil {
			g.err = err
			return
		}
		switch t {
		case wire.TypeRecords:
			err := wire.Batch(body, func(_ int, entry []byte) (int, error) {
				var r wire.Record
				n, err := wire.DecodeRecord(entry, &r)
				if err != nil {
					return 0, err
				}
				r.Payload = nil
				select {
				case g.recs <- r:
				default: // the probe looks for one record; excess is noise
				}
				return n, nil
			})
			if err != nil {
				g.err = err
				return
			}
		case wire.TypePing:
			g.send(wire.TypePong, body)
		case wire.TypePong:
			select {
			case g.pong <- struct{}{}:
			default:
			}
		case wire.TypeError:
			g.err = wire.DecodeError(body)
			return
		}
	}
}

func (g *gwClient) send(t wire.Type, body []byte) error {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.c.SetDeadline(time.Now().Add(2 * time.Second))
	defer g.c.SetDeadline(time.Time{})
	if err := g.c.WriteFrame(t, body); err != nil {
		return fmt.Errorf("doctor: gateway %s: send %s: %w", g.addr, t, err)
	}
	if err := g.c.Flush(); err != nil {
		return fmt.Errorf("doctor: gateway %s: send %s: %w", g.addr, t, err)
	}
	return nil
}

func (g *gwClient) addRoute(t wire.Tuple, ttl time.Duration) error {
	b := wire.AppendLeaseAdd(wire.BeginBatch(nil), t, ttl)
	return g.send(wire.TypeLeaseAdd, wire.EndBatch(b, 1))
}

// sync sends a ping and waits up to d for the pong: the gateway handles a
// connection's frames in order, so afterwards the routes sent before are in
// place. A gateway that does not answer in time is not an error (it holds
// early responses anyway).
func (g *gwClient) sync(d time.Duration) bool {
	select {
	case <-g.pong:
	default:
	}
	if g.send(wire.TypePing, binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))) != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.pong:
		return true
	case <-t.C:
		return false
	case <-g.done:
		return false
	}
}

func (g *gwClient) delRoute(t wire.Tuple) error {
	b := wire.AppendTuple(wire.BeginBatch(nil), t)
	return g.send(wire.TypeLeaseRelease, wire.EndBatch(b, 1))
}

func (g *gwClient) Close() {
	g.c.Close()
	<-g.done
}

// describeDialError explains a failed connect or handshake and the fix.
func describeDialError(addr string, err error, secretKey string) (detail, fix string) {
	host, _, _ := net.SplitHostPort(addr)
	var pe *wire.PeerError
	switch {
	case errors.Is(err, wire.ErrAuth) || errors.As(err, &pe) && pe.Code == wire.CodeAuth:
		return fmt.Sprintf("the gateway rejected the token: %v", err),
			fmt.Sprintf("set %s to the gateway's [gateway].token (or the same token_file on both hosts)", secretKey)
	case errors.Is(err, wire.ErrVersion) || errors.As(err, &pe) && pe.Code == wire.CodeVersion:
		return fmt.Sprintf("protocol version mismatch: %v", err), "install the same replaygw version on both hosts"
	case errors.Is(err, unix.ECONNREFUSED):
		return "connection refused: the gateway is not running or listens elsewhere",
			fmt.Sprintf("on %s: sudo replaygw up (check [gateway].listen), and allow tcp port %s in its firewall", host, portOf(addr))
	case isTimeout(err):
		return fmt.Sprintf("no answer within the timeout: %v", err),
			fmt.Sprintf("check that %s is reachable (ping %s) and that a firewall allows tcp port %s", host, host, portOf(addr))
	case errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ENETUNREACH):
		return fmt.Sprintf("no route to the gateway: %v", err), fmt.Sprintf("check the routing to %s (ip route get %s)", host, host)
	}
	return err.Error(), fmt.Sprintf("check that the gateway runs on %s (sudo replaygw up) and [copy].gateways", host)
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
