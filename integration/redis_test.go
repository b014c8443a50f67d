package integration

// A non-HTTP protocol end to end: Debian's redis-server on the online and
// target hosts, a tiny RESP client on the client host, and the check that
// the target's Redis ends with exactly the online one's keys and counters.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

const redisServer = "/usr/bin/redis-server"

// respConn is a minimal RESP2 client: commands as arrays of bulk strings,
// replies parsed into string, int64, error or []any.
type respConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newRESPConn(c net.Conn) *respConn {
	return &respConn{c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
}

// queue buffers one command without flushing it (for pipelining).
func (r *respConn) queue(args ...string) {
	fmt.Fprintf(r.bw, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(r.bw, "$%d\r\n%s\r\n", len(a), a)
	}
}

// flush sends the queued commands and reads n replies.
func (r *respConn) flush(n int) ([]any, error) {
	_ = r.c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := r.bw.Flush(); err != nil {
		return nil, fmt.Errorf("resp: write: %w", err)
	}
	out := make([]any, 0, n)
	for range n {
		v, err := r.reply()
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// do sends one command and returns its reply.
func (r *respConn) do(args ...string) (any, error) {
	r.queue(args...)
	v, err := r.flush(1)
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

// respError is a Redis error reply.
type respError string

func (e respError) Error() string { return "redis: " + string(e) }

func (r *respConn) reply() (any, error) {
	line, err := r.br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("resp: read: %w", err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("resp: bad line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // nil bulk: no such key
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r.br, b); err != nil {
			return nil, fmt.Errorf("resp: read bulk: %w", err)
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		a := make([]any, 0, max(n, 0))
		for range n {
			v, err := r.reply()
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	}
	return nil, fmt.Errorf("resp: unknown reply type %q", line)
}

// startRedis runs redis-server on h's lab address and waits until it
// answers PING from inside h's namespace.
func startRedis(t *testing.T, l *lab.Lab, h lab.Host, dir string) netip.AddrPort {
	t.Helper()
	addr := netip.AddrPortFrom(l.Addr(h), 6379)
	logf, err := os.Create(filepath.Join(dir, "redis-"+string(h)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Start(h, logf, redisServer, "--port", "6379", "--bind", addr.Addr().String(),
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(3 * time.Second); err != nil {
			t.Logf("redis on %s: %v", h, err)
		}
		logf.Close()
	})
	dial, err := l.Dialer(h)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dial.DialContext(context.Background(), "tcp", addr.String())
		if err == nil {
			v, perr := newRESPConn(c).do("PING")
			c.Close()
			if perr == nil && v == "PONG" {
				return addr
			}
			err = errors.Join(perr, fmt.Errorf("PING answered %v", v))
		}
		select {
		case <-p.Done():
			t.Fatalf("redis-server on %s exited: %v\n%s", h, p.Err(), lab.LogTail(logf.Name(), 10))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s not ready: %v\n%s", h, err, lab.LogTail(logf.Name(), 10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCopyRedis replays uniquely keyed Redis commands (single and
// pipelined SETs, INCRs) from a few connections; the target's Redis must
// end with the same keys and values, counters included (a command lost or
// replayed twice changes a counter).
func TestCopyRedis(t *testing.T) {
	bin := needBinary(t, "up", "copy")
	if _, err := os.Stat(redisServer); err != nil {
		t.Skipf("%s is missing (install Debian's redis-server, see .ci/deps): %v", redisServer, err)
	}
	// The bytes as captured, and the Redis protocol (commands framed for
	// pacing, replies paired in order).
	for _, proto := range []string{"tcp", "redis"} {
		t.Run(proto, func(t *testing.T) { testCopyRedis(t, bin, proto) })
	}
}

func testCopyRedis(t *testing.T, bin, proto string) {
	r := newCopyRig(t, bin)
	dir := t.TempDir()
	online := startRedis(t, r.Lab, lab.Online, dir)
	target := startRedis(t, r.Lab, lab.Target, dir)
	dc := lab.NewDemoConfig(r.Lab)
	r.startCopier(copierConf{Routes: [][2]netip.AddrPort{{dc.From, dc.To}, {online, target}}, Protocols: []string{"", proto}}, true)

	const conns, singles, batches, perBatch = 4, 40, 5, 10
	want := make(map[string]string) // key -> value on online
	dial, err := r.Lab.Dialer(lab.Client)
	if err != nil {
		t.Fatal(err)
	}
	for c := range conns {
		nc, err := dial.DialContext(context.Background(), "tcp", online.String())
		if err != nil {
			t.Fatal(err)
		}
		rc := newRESPConn(nc)
		ctr := fmt.Sprintf("rg:ctr:%d", c)
		incrs := 0
		for i := range singles {
			key, val := fmt.Sprintf("rg:%d:%d", c, i), fmt.Sprintf("v-%d-%d-%d", c, i, time.Now().UnixNano())
			if v, err := rc.do("SET", key, val); err != nil || v != "OK" {
				t.Fatalf("SET %s: %v %v", key, v, err)
			}
			want[key] = val
			if _, err := rc.do("INCR", ctr); err != nil {
				t.Fatalf("INCR %s: %v", ctr, err)
			}
			incrs++
		}
		for b := range batches {
			for i := range perBatch {
				key := fmt.Sprintf("rg:%d:p%d:%d", c, b, i)
				val := fmt.Sprintf("pv-%d-%d-%d", c, b, i)
				rc.queue("SET", key, val)
				want[key] = val
			}
			rc.queue("INCR", ctr)
			incrs++
			vs, err := rc.flush(perBatch + 1)
			if err != nil {
				t.Fatalf("pipeline %d on connection %d: %v", b, c, err)
			}
			for _, v := range vs {
				if e, ok := v.(respError); ok {
					t.Fatalf("pipeline %d: %v", b, e)
				}
			}
		}
		want[ctr] = strconv.Itoa(incrs)
		nc.Close()
	}
	// The online Redis holds what we sent (sanity check of the client).
	onDial, err := r.Lab.Dialer(lab.Online)
	if err != nil {
		t.Fatal(err)
	}
	if diff := redisDiff(t, onDial, online, want); diff != 0 {
		t.Fatalf("online redis differs from what was sent in %d keys", diff)
	}
	tgDial, err := r.Lab.Dialer(lab.Target)
	if err != nil {
		t.Fatal(err)
	}
	var diff int
	deadline := time.Now().Add(8 * time.Second)
	for {
		if diff = redisDiff(t, tgDial, target, want); diff == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d keys (%d counters) written online over %d connections; target differs in %d; copier fates %v",
		len(want), conns, conns, diff, fates(r.copierMetrics()))
	if diff != 0 {
		redisDiff(t, tgDial, target, want) // logs the first differences
		t.Errorf("target redis differs from online in %d of %d keys", diff, len(want))
	}
	r.copierAlive()
}

// redisDiff counts keys of want whose value at addr differs (MGET from
// inside the namespace of d); it logs the first few when the test has
// failed already.
func redisDiff(t *testing.T, d *lab.Dialer, addr netip.AddrPort, want map[string]string) int {
	t.Helper()
	nc, err := d.DialContext(context.Background(), "tcp", addr.String())
	if err != nil {
		t.Fatalf("dial redis %s: %v", addr, err)
	}
	defer nc.Close()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	v, err := newRESPConn(nc).do(append([]string{"MGET"}, keys...)...)
	if err != nil {
		t.Fatalf("MGET on %s: %v", addr, err)
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != len(keys) {
		t.Fatalf("MGET on %s answered %v", addr, v)
	}
	diff := 0
	for i, k := range keys {
		got, _ := vals[i].(string)
		if vals[i] == nil || got != want[k] {
			if diff < 5 && t.Failed() {
				t.Logf("%s: %s = %v, want %q", addr, k, vals[i], want[k])
			}
			diff++
		}
	}
	return diff
}
