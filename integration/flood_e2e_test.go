package integration

// Floods (issue 14 item 3), with the real binaries in the namespace lab: a
// SYN flood from many spoofed client addresses to the online service keeps
// the copier's session table at or under copy.max_sessions (the oldest
// half-open sessions shed, counted) and its memory bounded, while a normal
// load from the client's own address is still replayed in full; a target
// that stops reading keeps the copier's buffered bytes under memory_limit
// while another route still replays.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"

	"github.com/replaygw/replaygw/lab"
	"github.com/replaygw/replaygw/pkt"
)

// synFlood is a bounded flood of SYNs with spoofed sources.
type synFlood struct {
	from  netip.Prefix   // spoofed source addresses, in order
	to    netip.AddrPort // the online service
	count int            // SYNs in all
	rate  int            // SYNs per second
}

// source returns the i-th SYN's source: the addresses of from in turn,
// the port moving on after each round, so every SYN has its own tuple.
func (f synFlood) source(i int) netip.AddrPort {
	n := 1 << (32 - f.from.Bits())
	a := f.from.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i % n)
	addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.AddrPortFrom(addr, uint16(20000+i/n))
}

// send writes the flood from host h of l through a raw IPv4 socket (the
// kernel takes the header as built: IPPROTO_RAW implies IP_HDRINCL) and
// returns how many SYNs were sent. It stops at ctx's end.
func (f synFlood) send(ctx context.Context, l *lab.Lab, h lab.Host) (int, error) {
	sent := 0
	err := l.Do(h, func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer syscall.Close(fd)
		to := &syscall.SockaddrInet4{Addr: f.to.Addr().As4()}
		buf := make([]byte, 128)
		opts := []byte{2, 4, 0x05, 0xb4} // MSS 1460
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick := max(f.rate/100, 1)
		for sent < f.count {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			for k := 0; k < perTick && sent < f.count; k++ {
				seg := pkt.Segment{
					Src: f.source(sent), Dst: f.to,
					Seq: seqnum.Value(uint32(sent) * 7919), Flags: header.TCPFlagSyn,
					Window: 65535, Options: opts, ID: uint16(sent),
				}
				n, err := pkt.Build(buf, &seg)
				if err != nil {
					return fmt.Errorf("build SYN %d: %w", sent, err)
				}
				if err := syscall.Sendto(fd, buf[:n], 0, to); err != nil {
					return fmt.Errorf("send SYN %d: %w", sent, err)
				}
				sent++
			}
		}
		return nil
	})
	return sent, err
}

// sampler reads the copier's gauges and memory every 100 ms until stopped
// and keeps their peaks.
type sampler struct {
	r    *copyRig
	pid  int
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	open     float64 // peak replaygw_engine_sessions_open
	buffered float64 // peak replaygw_engine_buffered_bytes
	rssKiB   int64   // peak VmRSS
	samples  int
	err      error
}

func startSampler(r *copyRig) *sampler {
	s := &sampler{r: r, pid: r.CP.Pid(), stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *sampler) run() {
	defer close(s.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

func (s *sampler) sample() {
	m, err := scrapeMetrics(s.r.Lab, lab.Online)
	rss, rerr := procStatusKiB(s.pid, "VmRSS")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || rerr != nil {
		if s.err == nil {
			s.err = fmt.Errorf("sample: metrics %v, status %v", err, rerr)
		}
		return
	}
	open, ok := m[sessionsGauge]
	if !ok && s.err == nil {
		s.err = fmt.Errorf("the copier exports no %s", sessionsGauge)
	}
	s.open = max(s.open, open)
	s.buffered = max(s.buffered, m["replaygw_engine_buffered_bytes"])
	s.rssKiB = max(s.rssKiB, rss)
	s.samples++
}

// finish stops the sampler and fails the test on a sampling error.
func (s *sampler) finish(t *testing.T) {
	t.Helper()
	close(s.stop)
	<-s.done
	s.sample()
	if s.err != nil {
		t.Fatal(s.err)
	}
	t.Logf("sampler: %d samples, peak sessions open %.0f, peak buffered %.0f bytes, peak VmRSS %d KiB",
		s.samples, s.open, s.buffered, s.rssKiB)
}

// Flood bounds.
const (
	floodMaxSessions = 2000
	floodMemoryLimit = 16 << 20
	// floodRSSOverhead is the copier's memory beyond its buffers: the
	// runtime, the capture ring, the session table at floodMaxSessions.
	floodRSSOverhead = 128 << 20
)

// TestFloodHalfOpen: 20,000 SYNs from 1,024 spoofed addresses at about
// 5,000/s while a normal load runs from the client's own address.
func TestFloodHalfOpen(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	f := &faultRig{copyRig: r}
	f.startTarget()
	r.startCopier(copierConf{Extra: []string{
		fmt.Sprintf("max_sessions = %d", floodMaxSessions),
		fmt.Sprintf("memory_limit = \"%dMiB\"", floodMemoryLimit>>20),
		"session_buffer = \"1MiB\"",
	}}, true)
	online := netip.AddrPortFrom(r.Lab.Addr(lab.Online), 80)
	flood := synFlood{
		from: netip.MustParsePrefix("10.77.100.0/22"), to: online,
		count: 20000, rate: 5000,
	}
	before := fates(r.copierMetrics())
	smp := startSampler(r)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var (
		sent int
		ferr error
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sent, ferr = flood.send(ctx, r.Lab, lab.Client)
	}()
	lo := lab.LoadOptions{
		Addr: online.String(), Short: 1000, Rate: 250,
		Duration: 15 * time.Second, Concurrency: 8, IDPrefix: "flood",
	}
	res := loadAnswered(t, r.Lab, lo, 99)
	wg.Wait()
	if ferr != nil {
		t.Fatal(ferr)
	}
	if sent != flood.count {
		t.Fatalf("sent %d SYNs of %d", sent, flood.count)
	}
	replayed := f.waitReplayed(res.OK, 10*time.Second)
	smp.finish(t)
	r.copierAlive()

	after := r.copierMetrics()
	shed := fates(after)["shed"] - before["shed"]
	t.Logf("flood: %d SYNs sent, normal load %d answered, %d replayed (%.2f%%), shed %.0f, fates %v",
		sent, len(res.OK), replayed, lab.Percent(replayed, len(res.OK)), shed, fates(after))
	if smp.open > floodMaxSessions {
		t.Errorf("sessions open peaked at %.0f, over max_sessions %d", smp.open, floodMaxSessions)
	}
	if shed <= 0 {
		t.Errorf("no session shed after %d SYNs over max_sessions %d", sent, floodMaxSessions)
	}
	if limit := int64(floodMemoryLimit+floodRSSOverhead) >> 10; smp.rssKiB > limit {
		t.Errorf("copier VmRSS peaked at %d KiB, over memory_limit + overhead (%d KiB)", smp.rssKiB, limit)
	}
	if replayed*1000 < len(res.OK)*999 {
		t.Errorf("only %d of %d normal ids reached the target during the flood", replayed, len(res.OK))
	}
}

// drainServer answers every connection's bytes with nothing and closes at
// EOF: the online side of the zero-window route, which only has to take
// the client's large bodies.
func drainServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}

// stallServer accepts connections and never reads them, holding each
// until the listener closes: a target whose receive window stays shut.
type stallServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (s *stallServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
}

func (s *stallServer) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// listenSmall listens on addr in host h with a small receive buffer (the
// accepted connections inherit it), so a server that never reads shuts
// its window after a few kilobytes. The listener is closed at test end.
func listenSmall(t *testing.T, l *lab.Lab, h lab.Host, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	err := l.Do(h, func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, h, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// sendBodies opens n connections from host h to addr and writes size
// bytes on each, then closes them; it returns the bytes written.
func sendBodies(ctx context.Context, l *lab.Lab, h lab.Host, addr string, n, size int) (int64, error) {
	d, err := l.Dialer(h)
	if err != nil {
		return 0, err
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		first error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var w int
				w, err = c.Write(body)
				c.Close()
				mu.Lock()
				total += int64(w)
				mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return total, first
}

// TestTargetZeroWindow: a target port whose server accepts and never
// reads while 24 clients send 2 MiB each to the online service on that
// route (48 MiB, three times memory_limit): the copier's buffered bytes
// stay at or under memory_limit, the stalled sessions end with
// buffer_limit, and a normal load on the other route is replayed in full.
func TestTargetZeroWindow(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	f := &faultRig{copyRig: r}
	f.startTarget()
	online80 := netip.AddrPortFrom(r.Lab.Addr(lab.Online), 80)
	online81 := netip.AddrPortFrom(r.Lab.Addr(lab.Online), 81)
	target80 := netip.AddrPortFrom(r.Lab.Addr(lab.Target), 80)
	target81 := netip.AddrPortFrom(r.Lab.Addr(lab.Target), 81)

	go drainServer(listenSmall(t, r.Lab, lab.Online, ":81"))
	stall := &stallServer{ln: listenSmall(t, r.Lab, lab.Target, ":81")}
	go stall.serve()
	t.Cleanup(stall.close)

	r.startCopier(copierConf{
		Extra: []string{
			fmt.Sprintf("memory_limit = \"%dMiB\"", floodMemoryLimit>>20),
			"session_buffer = \"1MiB\"",
		},
		Routes: [][2]netip.AddrPort{{online80, target80}, {online81, target81}},
	}, true)
	before := fates(r.copierMetrics())
	smp := startSampler(r)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const conns, size = 24, 2 << 20
	var (
		wrote int64
		berr  error
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		wrote, berr = sendBodies(ctx, r.Lab, lab.Client, online81.String(), conns, size)
	}()
	lo := lab.LoadOptions{
		Addr: online80.String(), Short: 1000, Rate: 250,
		Duration: 15 * time.Second, Concurrency: 8, IDPrefix: "zerowin",
	}
	res := loadAnswered(t, r.Lab, lo, 99)
	wg.Wait()
	if berr != nil {
		t.Fatalf("bodies to %s: %v (wrote %d bytes)", online81, berr, wrote)
	}
	replayed := f.waitReplayed(res.OK, 10*time.Second)
	smp.finish(t)
	r.copierAlive()

	after := r.copierMetrics()
	ended := fates(after)
	limited := ended["buffer_limit"] - before["buffer_limit"]
	open := after[sessionsGauge]
	t.Logf("zero window: %d bytes sent on %d connections, normal load %d answered, %d replayed (%.2f%%), buffer_limit %.0f, open %.0f, buffer drops %.0f, fates %v",
		wrote, conns, len(res.OK), replayed, lab.Percent(replayed, len(res.OK)), limited, open,
		after["replaygw_engine_buffer_drops_total"], ended)
	if smp.buffered > floodMemoryLimit {
		t.Errorf("buffered bytes peaked at %.0f, over memory_limit %d", smp.buffered, floodMemoryLimit)
	}
	if smp.buffered == 0 {
		t.Errorf("the copier never buffered a byte for a target that does not read")
	}
	// Each body is twice session_buffer: a stalled session cannot finish.
	if limited <= 0 || limited > conns {
		t.Errorf("%.0f sessions ended with buffer_limit, want 1..%d (the stalled ones); %.0f open", limited, conns, open)
	}
	if limit := int64(floodMemoryLimit+floodRSSOverhead) >> 10; smp.rssKiB > limit {
		t.Errorf("copier VmRSS peaked at %d KiB, over memory_limit + overhead (%d KiB)", smp.rssKiB, limit)
	}
	if replayed*1000 < len(res.OK)*999 {
		t.Errorf("only %d of %d normal ids reached the target while the other route stalled", replayed, len(res.OK))
	}
}
