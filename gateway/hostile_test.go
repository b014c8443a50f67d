package gateway_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/wire"
)

// Hostile peers on the control port (all on loopback): each is refused and
// counted, never gets a record, and a legitimate copier keeps working.

// attackerDialer dials from another loopback address than the copiers'
// 127.0.0.1, as an attacker on another host would.
func attackerDialer(i int) *net.Dialer {
	return &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%4))}}
}

// readAll reads what the gateway sends an attacker until it closes the
// connection (or the deadline), and returns the frame types seen and the
// last error frame's code. It reads with a small buffer: the attackers'
// own memory must not hide the gateway's in the heap measurements.
func readAll(c net.Conn, d time.Duration) (types []wire.Type, code uint16, err error) {
	c.SetReadDeadline(time.Now().Add(d))
	var hdr [5]byte
	for {
		if _, err = io.ReadFull(c, hdr[:]); err != nil {
			return types, code, err
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4])) - 1
		types = append(types, wire.Type(hdr[4]))
		var body bytes.Buffer
		if _, err = io.CopyN(&body, c, min(n, 2048)); err != nil {
			return types, code, err
		}
		if wire.Type(hdr[4]) == wire.TypeError {
			code = wire.DecodeError(body.Bytes()).Code
		}
		if n > 2048 {
			return types, code, errors.New("oversized frame from the gateway")
		}
	}
}

// legitCopier connects a copier with a lease and checks it receives the
// records delivered for it.
func legitCopier(t *testing.T, s *gateway.Server, addr string, tu wire.Tuple, n int) {
	t.Helper()
	got := &sink{}
	g := newClient(t, addr, copier.GatewayConfig{Name: "legit", OnRecord: got.on})
	g.AddLease(tu, 0, 0)
	waitFor(t, "legit lease", func() bool { return s.Leases() >= 1 })
	for i := range n {
		s.Deliver(&wire.Record{Tuple: tu, Seq: uint32(i), Flags: wire.FlagACK})
	}
	waitFor(t, "legit records", func() bool { return len(got.get()) == n })
}

func TestHostileGarbage(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{HandshakeTimeout: 2 * time.Second})
	junk := make([]byte, 4096)
	rand.Read(junk)
	huge := []byte{0xff, 0xff, 0xff, 0xff, byte(wire.TypeHello)}
	justOver := []byte{0x00, 0x00, 0x04, 0x02, byte(wire.TypeHello)} // 1025-byte body: over the handshake limit
	for i, tc := range []struct {
		name string
		send []byte
	}{
		{"random bytes", junk},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: gw\r\n\r\n")},
		{"4 GiB length prefix", huge},
		{"length just over the handshake limit", append(justOver, make([]byte, 1025)...)},
		{"zero length frame", []byte{0, 0, 0, 0, 0}},
		{"records before auth", wire.EndBatch(append([]byte{0, 0, 0, 3, byte(wire.TypeRecords)}, 0, 0), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().HandshakeFailures.Load()
			c, err := attackerDialer(i).Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(tc.send)
			start := time.Now()
			types, _, err := readAll(c, 5*time.Second)
			if time.Since(start) > 3*time.Second {
				t.Fatalf("the gateway kept the connection open (%v)", err)
			}
			for _, ty := range types {
				if ty != wire.TypeHello && ty != wire.TypeError {
					t.Fatalf("an unauthenticated peer got a %s frame", ty)
				}
			}
			waitFor(t, "refusal counted", func() bool { return s.Stats().HandshakeFailures.Load() > before })
		})
	}
	if s.Stats().CopiersTotal.Load() != 0 || s.Stats().AuthFailures.Load() != 0 {
		t.Fatalf("garbage authenticated: %+v", s.Stats().Counters())
	}
}

// A peer that never finishes its hello is cut at the handshake deadline.
func TestHostileSlowloris(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{HandshakeTimeout: 300 * time.Millisecond})
	c, err := attackerDialer(0).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	hello := wire.AppendHello(nil, &wire.Hello{Version: wire.Version, Role: wire.RoleCopier, Name: "slow"})
	frame := append([]byte{0, 0, 0, byte(len(hello) + 1), byte(wire.TypeHello)}, hello...)
	closed := make(chan time.Duration, 1)
	go func() {
		readAll(c, 5*time.Second)
		closed <- time.Since(start)
	}()
	for _, b := range frame[:len(frame)-1] { // a byte every 50 ms, never the last
		if _, err := c.Write([]byte{b}); err != nil {
			break
		}
		select {
		case d := <-closed:
			closed <- d
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	d := <-closed
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want at the 300ms hello deadline", d)
	}
	waitFor(t, "counted", func() bool { return s.Stats().HandshakeFailures.Load() == 1 })
}

// A recorded authentication exchange replayed on a new connection fails:
// the gateway's challenge is fresh per connection.
func TestHostileReplayedAuth(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Conn: nc}
	if _, err := wire.Handshake(wire.NewConn(rec), wire.Hello{Role: wire.RoleCopier, Name: "recorded"}, []byte("tok"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	waitFor(t, "recorded copier accepted", func() bool { return s.Stats().CopiersTotal.Load() == 1 })
	for i := range 3 {
		c, err := attackerDialer(i).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(rec.sent.Bytes()) // hello and proof, as recorded
		types, code, _ := readAll(c, 5*time.Second)
		c.Close()
		// The gateway's hello and its own proof (over this connection's
		// nonces), then the refusal; never auth-ok or records.
		if len(types) != 3 || types[0] != wire.TypeHello || types[1] != wire.TypeAuth || types[2] != wire.TypeError || code != wire.CodeAuth {
			t.Fatalf("replay %d got %v (code %d), want hello, auth, an auth error", i, types, code)
		}
		waitFor(t, "auth failure counted", func() bool { return s.Stats().AuthFailures.Load() == uint64(i+1) })
	}
	if s.Stats().CopiersTotal.Load() != 1 {
		t.Fatalf("a replayed exchange authenticated: %d copiers accepted", s.Stats().CopiersTotal.Load())
	}
}

type recordingConn struct {
	net.Conn
	sent bytes.Buffer
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.sent.Write(b)
	return c.Conn.Write(b)
}

// 1,000 connections at once that never authenticate (half send nothing,
// half a partial hello that never ends), redialing when closed until the
// copier is done (at most 50 rounds and 10 s each): the pending handshakes stay capped, the excess is closed
// and counted, goroutines and heap stay bounded, none gets a record, and a
// copier connects and gets its records while the flood runs.
func TestHostileFlood(t *testing.T) {
	const attackers, rounds = 1000, 50
	s, addr := startServer(t, gateway.ServerConfig{HandshakeTimeout: 3 * time.Second})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	baseG := runtime.NumGoroutine()

	var wg sync.WaitGroup
	var alive, dials atomic.Int64
	stop := make(chan struct{})
	var badFrames sync.Map
	for i := range attackers {
		wg.Add(1)
		alive.Add(1)
		go func() {
			defer wg.Done()
			defer alive.Add(-1)
			end := time.Now().Add(10 * time.Second)
			for range rounds {
				select {
				case <-stop:
					return
				default:
				}
				if time.Now().After(end) {
					return
				}
				c, err := attackerDialer(i).Dial("tcp", addr)
				if err != nil {
					return
				}
				dials.Add(1)
				if i%2 == 1 {
					c.Write([]byte{0, 0, 1, 0, byte(wire.TypeHello), 'R', 'G'})
				}
				types, _, _ := readAll(c, 4*time.Second)
				c.Close()
				for _, ty := range types {
					if ty != wire.TypeHello && ty != wire.TypeError {
						badFrames.Store(ty, true)
					}
				}
			}
		}()
	}
	waitFor(t, "flood under way", func() bool { return s.Stats().PendingRefused.Load() > attackers/2 })
	refusedBefore := s.Stats().PendingRefused.Load()
	legitCopier(t, s, addr, tuple(1), 100)

	// Sample while the flood still runs.
	// Attackers start and end all the time, so a goroutine count and the
	// attackers' count read one after the other disagree by the ones that
	// changed in between; the least of a few samples is the gateway's.
	running := alive.Load()
	peakG := runtime.NumGoroutine()
	for range 4 {
		time.Sleep(5 * time.Millisecond)
		r, g := alive.Load(), runtime.NumGoroutine()
		if g-int(r) < peakG-int(running) {
			running, peakG = r, g
		}
	}
	runtime.GC() // live heap: what the flood holds, not its garbage
	runtime.ReadMemStats(&ms)
	heap := ms.HeapAlloc - min(ms.HeapAlloc, baseHeap)
	refusedMid := s.Stats().PendingRefused.Load()
	close(stop)
	// The attackers' goroutines are in the count: the gateway's share is
	// what exceeds them and the legit copier's few.
	gatewayG := peakG - baseG - int(running)
	t.Logf("during the flood: %d goroutines (%d before, %d attackers running, so %d for the gateway and the copier), live heap +%.1f MB, pending refused %d",
		peakG, baseG, running, gatewayG, float64(heap)/(1<<20), refusedMid)
	if running == 0 || refusedMid == refusedBefore {
		t.Errorf("the flood was over before the copier finished (%d attackers running, %d refused before, %d after)", running, refusedBefore, refusedMid)
	}
	if gatewayG > gateway.DefaultMaxPending+32 {
		t.Errorf("%d goroutines beyond the attackers', want at most the %d pending slots and a few", gatewayG, gateway.DefaultMaxPending)
	}
	if heap > 64<<20 {
		t.Errorf("live heap grew by %d MB during the flood, want < 64 MB", heap>>20)
	}
	wg.Wait()
	badFrames.Range(func(k, _ any) bool {
		t.Errorf("an unauthenticated peer got a %s frame", k)
		return true
	})
	st := s.Stats()
	if refused := st.PendingRefused.Load(); refused < uint64(dials.Load())-gateway.DefaultMaxPending {
		t.Errorf("pending refused %d of %d connections, want at least all but %d", refused, dials.Load(), gateway.DefaultMaxPending)
	}
	if st.CopiersTotal.Load() != 1 || st.AuthFailures.Load() != 0 {
		t.Errorf("accepted %d copiers, %d auth failures; want only the legit copier", st.CopiersTotal.Load(), st.AuthFailures.Load())
	}
	waitFor(t, "goroutines back", func() bool { return runtime.NumGoroutine() <= baseG+10 })
}
