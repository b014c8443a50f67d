package lab

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/replaygw/replaygw/lab/netns"
)

// Dialer dials from inside one lab namespace: a small pool of goroutines
// locked to threads that entered the namespace creates the sockets, which
// callers then use from any goroutine. It plugs into http.Transport.
type Dialer struct {
	req   chan dialReq
	once  sync.Once
	stop  chan struct{}
	wg    sync.WaitGroup
	ns    netns.Handle
	inner net.Dialer
}

type dialReq struct {
	ctx           context.Context
	network, addr string
	res           chan dialRes
}

type dialRes struct {
	c   net.Conn
	err error
}

// dialWorkers is the pool size: dials are short, a few threads suffice.
const dialWorkers = 4

// Dialer returns host's dialer (one per host, closed with the lab).
func (l *Lab) Dialer(h Host) (*Dialer, error) {
	hd, err := l.handle(h)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("lab: dialer: lab is closed")
	}
	if d, ok := l.dialers[h]; ok {
		return d, nil
	}
	d := &Dialer{req: make(chan dialReq), stop: make(chan struct{}), ns: hd, inner: net.Dialer{Timeout: 5 * time.Second}}
	l.dialers[h] = d
	return d, nil
}

func (d *Dialer) start() {
	for range dialWorkers {
		d.wg.Add(1)
		go d.worker()
	}
}

func (d *Dialer) worker() {
	defer d.wg.Done()
	err := netns.Enter(d.ns) // never unlocked: the thread is discarded on exit
	for {
		select {
		case <-d.stop:
			return
		case r := <-d.req:
			if err != nil {
				r.res <- dialRes{err: err}
				continue
			}
			c, derr := d.inner.DialContext(r.ctx, r.network, r.addr)
			r.res <- dialRes{c, derr}
		}
	}
}

// DialContext dials addr from the namespace.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.once.Do(d.start)
	r := dialReq{ctx: ctx, network: network, addr: addr, res: make(chan dialRes, 1)}
	select {
	case d.req <- r:
	case <-d.stop:
		return nil, errors.New("lab: dialer closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := <-r.res
	return res.c, res.err
}

// HTTPClient returns a client whose connections start in the namespace.
func (d *Dialer) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
	}
}

func (d *Dialer) close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.wg.Wait()
}
