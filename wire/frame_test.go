package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// pipeConn is a net.Conn over an in-memory byte stream for frame tests.
type pipeConn struct {
	net.Conn
	r io.Reader
	w bytes.Buffer
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeConn) SetDeadline(time.Time) error { return nil }
func (p *pipeConn) Close() error                { return nil }
func newPipeConn(in []byte) (*Conn, *pipeConn) {
	p := &pipeConn{r: bytes.NewReader(in)}
	return NewConn(p), p
}
func frameBytes(t Type, body []byte) []byte {
	c, p := newPipeConn(nil)
	c.WriteFrame(t, body)
	c.Flush()
	return p.w.Bytes()
}
func mustAP(t testing.TB, s string) netip.AddrPort { t.Helper(); return netip.MustParseAddrPort(s) }

func TestFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, MaxFrame)
	for _, tc := range []struct {
		name string
		typ  Type
		body []byte
	}{
		{"empty body", TypeAuthOK, nil},
		{"small", TypePing, []byte{1, 2, 3}},
		{"max", TypeRecords, big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newPipeConn(frameBytes(tc.typ, tc.body))
			typ, body, err := c.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.typ || !bytes.Equal(body, tc.body) {
				t.Fatalf("got %s %d bytes, want %s %d bytes", typ, len(body), tc.typ, len(tc.body))
			}
			if _, _, err := c.ReadFrame(); err != io.EOF {
				t.Fatalf("after the frame: %v, want EOF", err)
			}
		})
	}
}

func TestFrameErrors(t *testing.T) {
	c, _ := newPipeConn(nil)
	if err := c.WriteFrame(TypeRecords, make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("write oversized: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"zero length", []byte{0, 0, 0, 0, 1}, "zero-length"},
		{"too large", []byte{0, 0x10, 0, 2, 7}, "too large"},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 7}, "too large"},
		{"truncated body", []byte{0, 0, 0, 5, 7, 1, 2}, "unexpected EOF"},
		{"truncated header", []byte{0, 0}, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newPipeConn(tc.in)
			_, _, err := c.ReadFrame()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[Type]string{TypeHello: "hello", TypeRecords: "records", TypePong: "pong", 0: "type(0)", 77: "type(77)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d: %q, want %q", typ, got, want)
		}
	}
}

func TestLeaseBatchRoundTrip(t *testing.T) {
	tuples := []Tuple{
		{mustAP(t, "10.88.0.1:40000"), mustAP(t, "10.77.0.30:80")},
		{mustAP(t, "[fd00::1]:1"), mustAP(t, "[fd00::2]:443")},
	}
	ttls := []time.Duration{0, 90 * time.Second}
	b := BeginBatch(nil)
	for i, tu := range tuples {
		b = AppendLeaseAdd(b, tu, ttls[i])
	}
	b = EndBatch(b, len(tuples))
	var got []Tuple
	err := Batch(b, func(i int, e []byte) (int, error) {
		tu, ttl, n, err := DecodeLeaseAdd(e)
		if err == nil && ttl != ttls[i] {
			t.Errorf("entry %d ttl %v, want %v", i, ttl, ttls[i])
		}
		got = append(got, tu)
		return n, err
	})
	if err != nil || len(got) != 2 || got[0] != tuples[0] || got[1] != tuples[1] {
		t.Fatalf("lease-add: %v %v", got, err)
	}

	b = BeginBatch(b)
	for _, tu := range tuples {
		b = AppendTuple(b, tu)
	}
	b = EndBatch(b, len(tuples))
	got = got[:0]
	err = Batch(b, func(i int, e []byte) (int, error) {
		tu, n, err := DecodeLeaseRelease(e)
		got = append(got, tu)
		return n, err
	})
	if err != nil || len(got) != 2 || got[0] != tuples[0] || got[1] != tuples[1] {
		t.Fatalf("lease-release: %v %v", got, err)
	}
}

func TestLeaseAddTTLClamp(t *testing.T) {
	tu := Tuple{mustAP(t, "10.0.0.1:1"), mustAP(t, "10.0.0.2:2")}
	for _, tc := range []struct{ in, want time.Duration }{
		{-time.Second, 0},
		{1500 * time.Microsecond, time.Millisecond},
		{1 << 62, (1<<32 - 1) * time.Millisecond},
	} {
		_, ttl, _, err := DecodeLeaseAdd(AppendLeaseAdd(nil, tu, tc.in))
		if err != nil || ttl != tc.want {
			t.Errorf("ttl %v: got %v %v, want %v", tc.in, ttl, err, tc.want)
		}
	}
}

func TestBatchErrors(t *testing.T) {
	one := func(i int, e []byte) (int, error) { return 1, nil }
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"no count", []byte{0}, "truncated count"},
		{"too many", []byte{0xff, 0xff}, "limit"},
		{"trailing", []byte{0, 1, 9, 9}, "trailing"},
	} {
		if err := Batch(tc.body, one); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	err := Batch([]byte{0, 2, 1}, func(i int, e []byte) (int, error) {
		if len(e) == 0 {
			return 0, errShort
		}
		return 1, nil
	})
	if err == nil || !strings.Contains(err.Error(), "entry 2 of 2") {
		t.Errorf("short entry: %v", err)
	}
}

func TestErrorFrame(t *testing.T) {
	e := DecodeError(AppendError(nil, CodeAuth, "no"))
	if e.Code != CodeAuth || e.Msg != "no" || !strings.Contains(e.Error(), "no (code 2)") {
		t.Fatalf("%+v", e)
	}
	if e := DecodeError(AppendError(nil, 1, strings.Repeat("x", 5000))); len(e.Msg) != 1024 {
		t.Fatalf("long message kept %d bytes", len(e.Msg))
	}
	if e := DecodeError([]byte{1}); e.Code != CodeProtocol {
		t.Fatalf("short error frame: %+v", e)
	}
}
