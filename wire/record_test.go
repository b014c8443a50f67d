package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestTupleRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		tu   Tuple
	}{
		{"v4", Tuple{mustAP(t, "10.88.0.7:51000"), mustAP(t, "10.77.0.30:80")}},
		{"v4 zero ports", Tuple{mustAP(t, "0.0.0.0:0"), mustAP(t, "255.255.255.255:65535")}},
		{"v6", Tuple{mustAP(t, "[fd00:88::7]:51000"), mustAP(t, "[2001:db8::30]:443")}},
		{"v6 loopback", Tuple{mustAP(t, "[::1]:1"), mustAP(t, "[::1]:2")}},
		{"v4-mapped client, v6 target", Tuple{mustAP(t, "[::ffff:10.0.0.1]:1"), mustAP(t, "[fd00::2]:2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendTuple([]byte{0xee}, tc.tu)
			if len(b) != 1+tupleSize {
				t.Fatalf("encoded %d bytes, want %d", len(b)-1, tupleSize)
			}
			got, err := DecodeTuple(b[1:])
			if err != nil || got != tc.tu {
				t.Fatalf("got %v %v, want %v", got, err, tc.tu)
			}
			if !got.Valid() {
				t.Fatalf("%v not valid", got)
			}
		})
	}
}

func TestTupleDecodeErrors(t *testing.T) {
	v4 := AppendTuple(nil, Tuple{mustAP(t, "10.0.0.1:1"), mustAP(t, "10.0.0.2:2")})
	v6 := AppendTuple(nil, Tuple{mustAP(t, "[fd00::1]:1"), mustAP(t, "[fd00::2]:2")})
	badFam := append([]byte(nil), v4...)
	badFam[0] = 5
	v4Claim := append([]byte(nil), v6...) // family 4 but real v6 addresses
	v4Claim[0] = 4
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"short", v4[:tupleSize-1]}, {"family 5", badFam}, {"v4 with v6 addresses", v4Claim}, {"empty", nil}} {
		if _, err := DecodeTuple(tc.in); err == nil {
			t.Errorf("%s: decoded", tc.name)
		}
	}
}

func TestTupleValid(t *testing.T) {
	for _, tc := range []struct {
		tu   Tuple
		want bool
	}{
		{Tuple{mustAP(t, "10.0.0.1:1"), mustAP(t, "10.0.0.2:2")}, true},
		{Tuple{mustAP(t, "10.0.0.1:1"), mustAP(t, "[fd00::2]:2")}, false},
		{Tuple{Client: mustAP(t, "10.0.0.1:1")}, false},
		{Tuple{}, false},
	} {
		if got := tc.tu.Valid(); got != tc.want {
			t.Errorf("%v: Valid %v, want %v", tc.tu, got, tc.want)
		}
	}
}

func sampleRecord(t testing.TB, v6 bool, payload []byte) Record {
	tu := Tuple{mustAP(t, "10.88.0.9:40001"), mustAP(t, "10.77.0.30:8080")}
	if v6 {
		tu = Tuple{mustAP(t, "[fd00:88::9]:40001"), mustAP(t, "[fd00:77::30]:8080")}
	}
	return Record{
		Tuple: tu, Seq: 0xdeadbeef, Ack: 0x01020304, Window: 65535,
		Flags: FlagSYN | FlagACK, PayloadLen: uint16(len(payload)),
		Opts: Options{Has: OptMSS | OptWScale | OptTimestamp | OptSACKPermitted, WScale: 7, MSS: 1460, TSVal: 111, TSEcr: 222},
		Time: 1732500000123456789, Payload: payload,
	}
}

func TestRecordRoundTrip(t *testing.T) {
	pl := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	for _, tc := range []struct {
		name    string
		v6      bool
		payload []byte
		cap     int
		want    []byte
	}{
		{"v4 no payload", false, nil, 64, nil},
		{"v4 payload cap 0", false, pl, 0, nil},
		{"v4 payload cut", false, pl, 8, pl[:8]},
		{"v4 payload whole", false, pl, 1024, pl},
		{"v6 no payload", true, nil, 0, nil},
		{"v6 payload cut", true, pl, 15, pl[:15]},
		{"v6 payload exact", true, pl, len(pl), pl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleRecord(t, tc.v6, tc.payload)
			b := AppendRecord(nil, &in, tc.cap)
			if len(b) != RecordFixedSize+len(tc.want) {
				t.Fatalf("encoded %d bytes, want %d", len(b), RecordFixedSize+len(tc.want))
			}
			var out Record
			n, err := DecodeRecord(append(b, 0xff), &out)
			if err != nil || n != len(b) {
				t.Fatalf("decode: n=%d err=%v", n, err)
			}
			if !bytes.Equal(out.Payload, tc.want) {
				t.Fatalf("payload %q, want %q", out.Payload, tc.want)
			}
			out.Payload, in.Payload = nil, nil
			if !reflect.DeepEqual(out, in) {
				t.Fatalf("got %+v\nwant %+v", out, in)
			}
			if !out.Has(FlagSYN|FlagACK) || out.Has(FlagRST) {
				t.Fatalf("Has: flags %#x", out.Flags)
			}
		})
	}
}

func TestRecordPayloadDoesNotGrow(t *testing.T) {
	in := sampleRecord(t, false, []byte("abcdef"))
	b := AppendRecord(nil, &in, 6)
	var out Record
	if _, err := DecodeRecord(b, &out); err != nil {
		t.Fatal(err)
	}
	if cap(out.Payload) != 6 {
		t.Fatalf("payload cap %d: an append could overwrite the next record", cap(out.Payload))
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	in := sampleRecord(t, false, []byte("abcdef"))
	good := AppendRecord(nil, &in, 6)
	lie := append([]byte(nil), good...)
	lie[tupleSize+11], lie[tupleSize+12] = 0, 2 // PayloadLen 2 < 6 carried
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"fixed part short", good[:RecordFixedSize-1], "truncated"},
		{"payload short", good[:len(good)-1], "payload truncated"},
		{"more payload than segment", lie, "carries 6 payload bytes of a 2-byte segment"},
		{"bad tuple", append([]byte{9}, good[1:]...), "tuple"},
	} {
		var r Record
		if _, err := DecodeRecord(tc.in, &r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRecordBatch(t *testing.T) {
	recs := []Record{sampleRecord(t, false, []byte("x")), sampleRecord(t, true, nil), sampleRecord(t, false, []byte("hello"))}
	b := BeginBatch(nil)
	for i := range recs {
		b = AppendRecord(b, &recs[i], 100)
	}
	b = EndBatch(b, len(recs))
	var r Record
	var got []netip.AddrPort
	err := Batch(b, func(i int, e []byte) (int, error) {
		n, err := DecodeRecord(e, &r)
		if err == nil && (string(r.Payload) != string(recs[i].Payload) || r.Tuple != recs[i].Tuple) {
			t.Errorf("entry %d: %+v", i, r)
		}
		got = append(got, r.Tuple.Client)
		return n, err
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	r := sampleRecord(b, false, make([]byte, 64))
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], &r, 64)
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	in := sampleRecord(b, true, make([]byte, 64))
	buf := AppendRecord(nil, &in, 64)
	var r Record
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRecord(buf, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRecordCodecAllocs(t *testing.T) {
	in := sampleRecord(t, true, make([]byte, 64))
	buf := make([]byte, 0, 4096)
	var r Record
	n := testing.AllocsPerRun(100, func() {
		buf = AppendRecord(buf[:0], &in, 64)
		if _, err := DecodeRecord(buf, &r); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs per encode+decode, want 0", n)
	}
}
