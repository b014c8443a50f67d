package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type rec struct {
	data   []byte
	ts     time.Time
	origLn int // 0 = len(data)
}

func writePcap(t testing.TB, lt layers.LinkType, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ln := r.origLn
		if ln == 0 {
			ln = len(r.data)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: ln}, r.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func writePcapng(t testing.TB, lt layers.LinkType, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, lt)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ln := r.origLn
		if ln == 0 {
			ln = len(r.data)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: ln}, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	z.Write(b)
	z.Close()
	return buf.Bytes()
}

func tempFile(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type got struct {
	pkt []byte
	ts  time.Time
}

// readAll reads until an error; it returns the packets and that error.
func readAll(t testing.TB, f *File) ([]got, error) {
	t.Helper()
	var out []got
	for i := 0; i < 10000; i++ {
		p, ts, err := f.Next()
		if err != nil {
			return out, err
		}
		out = append(out, got{append([]byte(nil), p...), ts})
	}
	t.Fatal("endless file")
	return nil, nil
}

var (
	t0 = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	p4 = tcpPacket(netip.MustParseAddrPort("192.0.2.1:1234"), netip.MustParseAddrPort("10.0.0.1:80"), "GET / HTTP/1.1\r\n\r\n", 0)
	p6 = tcpPacket(netip.MustParseAddrPort("[2001:db8::1]:1234"), netip.MustParseAddrPort("[fd00::1]:443"), "hello", 0)
	// pSmall is shorter than Ethernet's minimum payload: frames carry padding.
	pSmall = tcpPacket(netip.MustParseAddrPort("192.0.2.1:1234"), netip.MustParseAddrPort("10.0.0.1:80"), "", 0)
)

func TestFileLinkTypes(t *testing.T) {
	lts := []layers.LinkType{
		layers.LinkTypeEthernet, layers.LinkTypeRaw, LinkTypeRawBSD, LinkTypeRawOpenBSD,
		layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull, layers.LinkTypeLoop,
	}
	for _, lt := range lts {
		recs := []rec{
			{data: frame(lt, p4), ts: t0},
			{data: frame(lt, p6), ts: t0.Add(time.Millisecond)},
		}
		want := []got{{p4, t0}, {p6, t0.Add(time.Millisecond)}}
		if lt == layers.LinkTypeEthernet {
			padded := append(ethernet(pSmall, 0), 0, 0, 0, 0, 0, 0)
			recs = append(recs,
				rec{data: arpFrame(), ts: t0.Add(2 * time.Millisecond)},
				rec{data: padded, ts: t0.Add(3 * time.Millisecond)},
				rec{data: ethernet(p4, 100), ts: t0.Add(4 * time.Millisecond)},
				rec{data: ethernet(p6, 100), ts: t0.Add(5 * time.Millisecond)},
			)
			want = append(want, got{pSmall, t0.Add(3 * time.Millisecond)},
				got{p4, t0.Add(4 * time.Millisecond)}, got{p6, t0.Add(5 * time.Millisecond)})
		}
		for _, format := range []struct {
			name  string
			bytes []byte
		}{
			{"pcap", writePcap(t, lt, recs)},
			{"pcapng", writePcapng(t, lt, recs)},
			{"pcap.gz", gzipped(writePcap(t, lt, recs))},
			{"pcapng.gz", gzipped(writePcapng(t, lt, recs))},
		} {
			t.Run(lt.String()+"/"+format.name, func(t *testing.T) {
				f, err := OpenFile(tempFile(t, format.bytes))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.LinkType() != lt {
					t.Errorf("link type %v, want %v", f.LinkType(), lt)
				}
				out, err := readAll(t, f)
				if err != io.EOF {
					t.Fatalf("ended with %v, want io.EOF", err)
				}
				if len(out) != len(want) {
					t.Fatalf("got %d packets, want %d", len(out), len(want))
				}
				for i := range want {
					if !bytes.Equal(out[i].pkt, want[i].pkt) {
						t.Errorf("packet %d: got %x want %x", i, out[i].pkt, want[i].pkt)
					}
					if !out[i].ts.Equal(want[i].ts) {
						t.Errorf("packet %d: time %v want %v", i, out[i].ts, want[i].ts)
					}
				}
				if lt == layers.LinkTypeEthernet && f.Stats().NonIP.Load() != 1 {
					t.Errorf("non-IP count %d, want 1", f.Stats().NonIP.Load())
				}
				if _, _, err := f.Next(); err != io.EOF {
					t.Errorf("after EOF: %v", err)
				}
			})
		}
	}
}

func TestFileMalformed(t *testing.T) {
	good := writePcap(t, layers.LinkTypeRaw, []rec{{data: p4, ts: t0}, {data: p6, ts: t0}, {data: p4, ts: t0}})
	rec1 := 16 + len(p4)
	rec2 := 16 + len(p6)

	long := append([]byte(nil), p4...)
	long[3] += 50 // total length beyond the record
	tiny := []byte{0x45, 0, 0, 10}

	cases := []struct {
		name      string
		file      []byte
		openErr   bool
		wantPkts  int
		wantPkt   int   // FileError.Packet of the error after them
		wantOff   int64 // and its Offset
		wantIs    error // errors.Is target
		continues bool  // Next after the error gives more packets
	}{
		{name: "empty", file: nil, openErr: true},
		{name: "bad magic", file: []byte("this is not a capture file at all"), openErr: true},
		{name: "short header", file: good[:10], openErr: true},
		{name: "truncated in record header", file: good[:24+rec1+rec2+7], wantPkts: 2, wantPkt: 3, wantOff: int64(24 + rec1 + rec2), wantIs: io.ErrUnexpectedEOF},
		{name: "truncated in record data", file: good[:24+rec1+20], wantPkts: 1, wantPkt: 2, wantOff: int64(24 + rec1), wantIs: io.ErrUnexpectedEOF},
		{name: "gzip truncated", file: gzipped(good)[:60], wantPkts: -1, wantPkt: -1, wantIs: io.ErrUnexpectedEOF},
		{name: "packet longer than its record", file: writePcap(t, layers.LinkTypeRaw, []rec{{data: p4, ts: t0}, {data: long, ts: t0}, {data: p6, ts: t0}}),
			wantPkts: 1, wantPkt: 2, wantOff: int64(24 + rec1), wantIs: ErrMalformed, continues: true},
		{name: "tiny IP header", file: writePcap(t, layers.LinkTypeRaw, []rec{{data: tiny, ts: t0}, {data: p6, ts: t0}}),
			wantPkts: 0, wantPkt: 1, wantOff: 24, wantIs: ErrMalformed, continues: true},
		{name: "ethernet too short", file: writePcap(t, layers.LinkTypeEthernet, []rec{{data: []byte{1, 2, 3}, ts: t0}}),
			wantPkts: 0, wantPkt: 1, wantOff: 24, wantIs: ErrMalformed},
		{name: "unsupported link type", file: writePcap(t, layers.LinkTypeIEEE802_11, []rec{{data: p4, ts: t0}}), openErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := OpenFile(tempFile(t, c.file))
			if c.openErr {
				var fe *FileError
				if err == nil {
					f.Close()
					t.Fatal("OpenFile succeeded")
				}
				if !errors.As(err, &fe) || fe.Packet != 0 {
					t.Fatalf("OpenFile error %v is not a file-header FileError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			defer f.Close()
			out, err := readAll(t, f)
			if c.wantPkts >= 0 && len(out) != c.wantPkts {
				t.Fatalf("%d packets before the error, want %d", len(out), c.wantPkts)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FileError", err, err)
			}
			if c.wantPkt < 0 {
				c.wantPkt, c.wantOff = fe.Packet, fe.Offset
			}
			if fe.Packet != c.wantPkt || fe.Offset != c.wantOff || !errors.Is(err, c.wantIs) {
				t.Fatalf("error %q: packet %d offset %d; want packet %d offset %d, is %v", err, fe.Packet, fe.Offset, c.wantPkt, c.wantOff, c.wantIs)
			}
			t.Logf("error text: %v", err)
			_, _, err2 := f.Next()
			if c.continues && err2 != nil {
				t.Fatalf("after a malformed packet: %v", err2)
			}
			if !c.continues && err2 == nil {
				t.Fatal("reading went on after a damaged record")
			}
		})
	}
}

func TestFileSnapCut(t *testing.T) {
	recs := []rec{
		{data: p4, ts: t0},
		{data: p6[:50], origLn: len(p6), ts: t0}, // cut by the snap length
		{data: p6, ts: t0.Add(time.Second)},
	}
	for _, b := range [][]byte{writePcap(t, layers.LinkTypeRaw, recs), writePcapng(t, layers.LinkTypeRaw, recs)} {
		f, err := OpenFile(tempFile(t, b))
		if err != nil {
			t.Fatal(err)
		}
		out, err := readAll(t, f)
		f.Close()
		if err != io.EOF || len(out) != 2 || !bytes.Equal(out[1].pkt, p6) {
			t.Fatalf("got %d packets, err %v", len(out), err)
		}
		if n := f.Stats().SnapCut.Load(); n != 1 {
			t.Fatalf("snap-cut count %d, want 1", n)
		}
	}
}

func TestFileCaplenBeyondLen(t *testing.T) {
	b := writePcap(t, layers.LinkTypeRaw, []rec{{data: p4, ts: t0}, {data: p4, ts: t0}})
	// Second record: original length smaller than the captured length.
	off := 24 + 16 + len(p4)
	b[off+12] = 10
	b[off+13], b[off+14], b[off+15] = 0, 0, 0
	f, err := OpenFile(tempFile(t, b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := readAll(t, f)
	var fe *FileError
	if len(out) != 1 || !errors.As(err, &fe) || fe.Packet != 2 || fe.Offset != int64(off) {
		t.Fatalf("got %d packets, err %v", len(out), err)
	}
}

func FuzzOpenFile(f *testing.F) {
	f.Add(writePcap(f, layers.LinkTypeEthernet, []rec{{data: ethernet(p4, 0), ts: t0}, {data: ethernet(p6, 5), ts: t0}}))
	f.Add(writePcapng(f, layers.LinkTypeRaw, []rec{{data: p4, ts: t0}, {data: p6, ts: t0}}))
	f.Add(gzipped(writePcap(f, layers.LinkTypeLinuxSLL2, []rec{{data: frame(layers.LinkTypeLinuxSLL2, p4), ts: t0}})))
	f.Add(writePcap(f, layers.LinkTypeNull, []rec{{data: frame(layers.LinkTypeNull, p6), ts: t0}}))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "fuzz.pcap")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := OpenFile(p)
		if err != nil {
			return
		}
		defer file.Close()
		for i := 0; i < 1000; i++ {
			pkt, _, err := file.Next()
			if err != nil {
				if errors.Is(err, ErrMalformed) {
					continue
				}
				return
			}
			if len(pkt) == 0 || (pkt[0]>>4 != 4 && pkt[0]>>4 != 6) {
				t.Fatalf("returned a non-IP packet %x", pkt)
			}
		}
	})
}

func BenchmarkFileNext(b *testing.B) {
	recs := make([]rec, 10000)
	for i := range recs {
		recs[i] = rec{data: ethernet(p4, 0), ts: t0.Add(time.Duration(i) * time.Microsecond)}
	}
	for _, format := range []struct {
		name  string
		bytes []byte
	}{{"pcap", writePcap(b, layers.LinkTypeEthernet, recs)}, {"pcapng", writePcapng(b, layers.LinkTypeEthernet, recs)}} {
		b.Run(format.name, func(b *testing.B) {
			path := tempFile(b, format.bytes)
			b.ReportAllocs()
			n := 0
			var f *File
			for b.Loop() {
				if f == nil {
					var err error
					if f, err = OpenFile(path); err != nil {
						b.Fatal(err)
					}
				}
				if _, _, err := f.Next(); err != nil {
					if err != io.EOF {
						b.Fatal(err)
					}
					f.Close()
					f = nil
					continue
				}
				n++
			}
			if f != nil {
				f.Close()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
