package wire

import (
	"bytes"
	"net/netip"
	"testing"
)

func FuzzDecodeRecord(f *testing.F) {
	r4 := sampleRecord(f, false, []byte("payload"))
	r6 := sampleRecord(f, true, nil)
	f.Add(AppendRecord(nil, &r4, 7))
	f.Add(AppendRecord(nil, &r6, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		n, err := DecodeRecord(b, &r)
		if err != nil {
			return
		}
		if n > len(b) || n != RecordFixedSize+len(r.Payload) || len(r.Payload) > int(r.PayloadLen) {
			t.Fatalf("n=%d len=%d payload=%d/%d", n, len(b), len(r.Payload), r.PayloadLen)
		}
		if !r.Tuple.Valid() {
			return // mixed families: the gateway refuses such tuples
		}
		// A valid decoded record survives re-encoding; IPv4-mapped
		// addresses come back in their canonical IPv4 form.
		again := AppendRecord(nil, &r, len(r.Payload))
		var r2 Record
		if _, err := DecodeRecord(again, &r2); err != nil {
			t.Fatalf("re-decode of %v: %v", r.Tuple, err)
		}
		if unmap(r2.Tuple) != unmap(r.Tuple) || r2.Seq != r.Seq || r2.Time != r.Time || !bytes.Equal(r2.Payload, r.Payload) {
			t.Fatalf("round trip changed %+v to %+v", r, r2)
		}
	})
}

func FuzzBatch(f *testing.F) {
	r := sampleRecord(f, false, []byte("x"))
	b := BeginBatch(nil)
	b = AppendRecord(b, &r, 1)
	f.Add(EndBatch(b, 1))
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		var rec Record
		seen := 0
		Batch(body, func(i int, e []byte) (int, error) {
			seen++
			return DecodeRecord(e, &rec)
		})
		if seen > MaxBatch {
			t.Fatalf("%d entries visited", seen)
		}
		Batch(body, func(i int, e []byte) (int, error) {
			_, _, n, err := DecodeLeaseAdd(e)
			return n, err
		})
		Batch(body, func(i int, e []byte) (int, error) {
			_, n, err := DecodeLeaseRelease(e)
			return n, err
		})
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frameBytes(TypePing, []byte{1, 2, 3}))
	f.Add(frameBytes(TypeHello, AppendHello(nil, &Hello{Version: 1, Role: RoleCopier})))
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, _ := newPipeConn(in)
		for range 64 {
			typ, body, err := c.ReadFrame()
			if err != nil {
				return
			}
			if len(body) > MaxFrame {
				t.Fatalf("%s frame of %d bytes", typ, len(body))
			}
			switch typ {
			case TypeHello:
				DecodeHello(body)
			case TypeError:
				DecodeError(body)
			}
		}
	})
}

func unmap(t Tuple) Tuple {
	return Tuple{
		netip.AddrPortFrom(t.Client.Addr().Unmap(), t.Client.Port()),
		netip.AddrPortFrom(t.Target.Addr().Unmap(), t.Target.Port()),
	}
}

// FuzzDecodeHello: any bytes a peer sends as its hello either decode to a
// hello that encodes back to the same bytes, or fail without panicking.
func FuzzDecodeHello(f *testing.F) {
	f.Add(AppendHello(nil, &Hello{Version: Version, Role: RoleCopier, Caps: CapLeaseShare, Instance: [16]byte{1}, Name: "cp"}))
	f.Add(AppendHello(nil, &Hello{Version: 1, Role: RoleGateway})[:47])
	f.Add([]byte("RGWH"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHello(b)
		if err != nil {
			return
		}
		if got := AppendHello(nil, &h); !bytes.Equal(got, b) {
			t.Fatalf("decoded %+v re-encodes to % x, not % x", h, got, b)
		}
	})
}

// FuzzDecodeShare: an auth-ok or share body decodes to a valid share or
// fails.
func FuzzDecodeShare(f *testing.F) {
	f.Add(AppendShare(nil, Share{Index: 1, Count: 2}))
	f.Add([]byte{0, 5, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeShare(b)
		if err == nil && (!s.Valid() || !bytes.Equal(AppendShare(nil, s), b)) {
			t.Fatalf("% x decoded to %+v", b, s)
		}
	})
}

func FuzzDecodeExchange(f *testing.F) {
	x := sampleExchange()
	f.Add(AppendExchange(nil, &x))
	x.Client, x.Target = netip.MustParseAddrPort("[2001:db8::1]:5"), netip.AddrPort{}
	f.Add(AppendExchange(nil, &x))
	f.Add([]byte{ExchangeFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		var x Exchange
		if err := DecodeExchange(b, &x); err != nil {
			return
		}
		// A decoded exchange encodes back to the same bytes.
		again := AppendExchange(nil, &x)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
		if ExchangeSize(&x) != len(b) {
			t.Fatalf("size %d of %d", ExchangeSize(&x), len(b))
		}
	})
}
