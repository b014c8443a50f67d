package wire

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleExchange() Exchange {
	return Exchange{
		Flags: ExchangeHasNoise | ExchangeTruncated, Route: 3, Copy: 1, Conn: 0xfeedbeef01,
		Client: netip.MustParseAddrPort("192.0.2.7:40000"), Target: netip.MustParseAddrPort("198.51.100.2:8080"),
		Protocol: "http", Request: 12, Kind: "GET", Key: "GET /users/{id}",
		ClientBytes: 80, TargetIn: 81, OnlineBytes: 300, TargetBytes: 301,
		OnlineSent: 1, OnlineFirst: 2, OnlineLast: 3, TargetSent: 4, TargetFirst: 5, TargetLast: 6,
		RequestData: []byte("GET /users/1 HTTP/1.1\r\n\r\n"), OnlineData: []byte("HTTP/1.1 200 OK\r\n\r\n"), TargetData: []byte("HTTP/1.1 500 Oops\r\n\r\n"),
	}
}

func TestExchangeRoundTrip(t *testing.T) {
	v6 := sampleExchange()
	v6.Client, v6.Target = netip.MustParseAddrPort("[2001:db8::1]:5"), netip.MustParseAddrPort("[2001:db8::2]:6")
	none := sampleExchange()
	none.Client, none.Target, none.RequestData, none.OnlineData, none.TargetData = netip.AddrPort{}, netip.AddrPort{}, nil, nil, nil
	for name, x := range map[string]Exchange{"v4": sampleExchange(), "v6": v6, "no addresses or payloads": none} {
		t.Run(name, func(t *testing.T) {
			b := AppendExchange(nil, &x)
			if len(b) != ExchangeSize(&x) {
				t.Fatalf("encoded %d bytes, ExchangeSize says %d", len(b), ExchangeSize(&x))
			}
			var got Exchange
			if err := DecodeExchange(b, &got); err != nil {
				t.Fatal(err)
			}
			for _, p := range []*[]byte{&x.RequestData, &x.OnlineData, &x.TargetData, &got.RequestData, &got.OnlineData, &got.TargetData} {
				if len(*p) == 0 {
					*p = nil
				}
			}
			if !reflect.DeepEqual(got, x) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, x)
			}
		})
	}
}

func TestExchangeTextsCut(t *testing.T) {
	x := sampleExchange()
	x.Key = strings.Repeat("é", MaxExchangeKey) // 2 bytes each: cut on a rune boundary
	x.Protocol = strings.Repeat("p", 100)
	b := AppendExchange(nil, &x)
	var got Exchange
	if err := DecodeExchange(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Key) != MaxExchangeKey || len(got.Protocol) != MaxExchangeProtocol {
		t.Fatalf("key %d bytes, protocol %d bytes", len(got.Key), len(got.Protocol))
	}
	if ExchangeSize(&x) != len(b) {
		t.Fatalf("size %d, encoded %d", ExchangeSize(&x), len(b))
	}
}

func TestExchangeDecodeErrors(t *testing.T) {
	x := sampleExchange()
	good := AppendExchange(nil, &x)
	// Offsets in the body.
	const (
		offFlags  = 1
		offClient = 1 + 1 + 2 + 2 + 8
		offTarget = offClient + addrPortSize
		offTimes  = offTarget + addrPortSize + 4 + 16
		offProto  = offTimes + 48
	)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "format: truncated"},
		{"format", mod(func(b []byte) []byte { b[0] = 9; return b }), "format 9"},
		{"flags", mod(func(b []byte) []byte { b[offFlags] = 0x80; return b }), "unknown bits 0x80"},
		{"family", mod(func(b []byte) []byte { b[offClient] = 5; return b }), "client: bad address family 5"},
		{"v4 family with v6 address", mod(func(b []byte) []byte { b[offTarget+1] = 0x20; return b }), "target: family 4 with the IPv6 address"},
		{"no address with port", mod(func(b []byte) []byte {
			b[offClient] = 0
			clear(b[offClient+1 : offClient+17])
			return b
		}), "client: no address, but"},
		{"negative time", mod(func(b []byte) []byte { b[offTimes+8] = 0x80; return b }), "online first: negative time"},
		{"empty protocol", mod(func(b []byte) []byte {
			return append(append(b[:offProto:offProto], 0), good[offProto+5:]...)
		}), "empty protocol name"},
		{"protocol too long", mod(func(b []byte) []byte { b[offProto] = 200; return b }), "protocol: 200 bytes (limit 32)"},
		{"bad utf-8", mod(func(b []byte) []byte { b[offProto+1] = 0xff; return b }), "protocol: not UTF-8"},
		{"payload past the end", mod(func(b []byte) []byte {
			n := len(b) - len(x.TargetData) - 4
			binary.BigEndian.PutUint32(b[n:], 1<<30)
			return b
		}), "target data: truncated"},
		{"trailing", append(append([]byte(nil), good...), 1, 2), "2 trailing bytes"},
		{"cut", good[:len(good)-1], "target data: truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got Exchange
			err := DecodeExchange(c.b, &got)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "exchange: ") {
				t.Fatalf("err %q does not name the frame", err)
			}
		})
	}
}

func TestExchangeFrameOverConn(t *testing.T) {
	x := sampleExchange()
	x.OnlineData = bytes.Repeat([]byte("o"), 200<<10)
	b, _ := newPipeConn(frameBytes(TypeExchange, AppendExchange(nil, &x)))
	typ, body, err := b.ReadFrame()
	if err != nil || typ != TypeExchange {
		t.Fatalf("frame %s, %v", typ, err)
	}
	var got Exchange
	if err := DecodeExchange(body, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.OnlineData, x.OnlineData) || got.Key != x.Key {
		t.Fatalf("payload %d bytes, key %q", len(got.OnlineData), got.Key)
	}
	if typ.String() != "exchange" {
		t.Fatalf("type name %q", typ.String())
	}
}

func TestLeaseAddFlags(t *testing.T) {
	tu := Tuple{Client: netip.MustParseAddrPort("10.9.0.1:1000"), Target: netip.MustParseAddrPort("10.0.0.2:80")}
	b := AppendLeaseAddFlags(nil, tu, 3*time.Second, LeasePayload)
	got, ttl, f, n, err := DecodeLeaseAddFlags(b)
	if err != nil || got != tu || ttl != 3*time.Second || f != LeasePayload || n != len(b) {
		t.Fatalf("decoded %v %v %v %d %v", got, ttl, f, n, err)
	}
	if _, _, _, _, err := DecodeLeaseAddFlags(b[:len(b)-1]); err == nil || !strings.Contains(err.Error(), "lease flags: truncated") {
		t.Fatalf("short entry: %v", err)
	}
	b[len(b)-1] = 0x81
	if _, _, _, _, err := DecodeLeaseAddFlags(b); err == nil || !strings.Contains(err.Error(), "unknown bits 0x80") {
		t.Fatalf("unknown flag: %v", err)
	}
	// A batch of flagged entries decodes with the flagged decoder only.
	body := BeginBatch(nil)
	body = AppendLeaseAddFlags(body, tu, 0, 0)
	body = AppendLeaseAddFlags(body, tu, 0, LeasePayload)
	body = EndBatch(body, 2)
	var flags []LeaseFlags
	err = Batch(body, func(_ int, e []byte) (int, error) {
		_, _, f, n, err := DecodeLeaseAddFlags(e)
		flags = append(flags, f)
		return n, err
	})
	if err != nil || !reflect.DeepEqual(flags, []LeaseFlags{0, LeasePayload}) {
		t.Fatalf("batch: %v %v", flags, err)
	}
	if err := Batch(body, func(_ int, e []byte) (int, error) { _, _, n, err := DecodeLeaseAdd(e); return n, err }); err == nil {
		t.Fatal("old decoder read a flagged batch")
	}
}
