package replay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/capture"
)

func TestPlayDamagedFile(t *testing.T) {
	ms := time.Millisecond
	offs := capOffsets{0, ms, 2 * ms, 3 * ms, 4 * ms}
	good := pcapRaw(t, offs)
	const hdr, rec = 24, 16 + 40 // pcap file header; record header + packet

	longIP := pcapRaw(t, offs)
	binary.BigEndian.PutUint16(longIP[hdr+rec+16+2:], 200) // packet 2: IP length beyond its record

	hugeRec := pcapRaw(t, offs)
	binary.LittleEndian.PutUint32(hugeRec[hdr+2*rec+8:], 1<<30) // packet 3: record length beyond any snap length

	capBeyondLen := pcapRaw(t, offs)
	binary.LittleEndian.PutUint32(capBeyondLen[hdr+3*rec+12:], 10) // packet 4: captured more than the original length

	cases := []struct {
		name      string
		file      []byte
		delivered []uint16
		fatal     bool  // the replay stops with an error
		pkt       int   // FileError.Packet of that error (or of the malformed packet)
		off       int64 // and its offset; -1 = do not check
		is        error
	}{
		{name: "truncated in record data", file: good[:hdr+3*rec+20], delivered: []uint16{0, 1, 2}, fatal: true, pkt: 4, off: hdr + 3*rec, is: io.ErrUnexpectedEOF},
		{name: "truncated in record header", file: good[:hdr+2*rec+5], delivered: []uint16{0, 1}, fatal: true, pkt: 3, off: hdr + 2*rec, is: io.ErrUnexpectedEOF},
		{name: "truncated gzip", file: gzipped(t, good)[:len(gzipped(t, good))-30], delivered: nil, fatal: true, pkt: -1, off: -1, is: io.ErrUnexpectedEOF},
		{name: "bad magic", file: []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"), fatal: true, pkt: 0, off: 0},
		{name: "empty file", file: nil, fatal: true, pkt: 0, off: 0},
		{name: "record longer than the snap length", file: hugeRec, delivered: []uint16{0, 1}, fatal: true, pkt: 3, off: hdr + 2*rec},
		{name: "record longer than the packet", file: capBeyondLen, delivered: []uint16{0, 1, 2}, fatal: true, pkt: 4, off: hdr + 3*rec},
		{name: "IP packet longer than its record", file: longIP, delivered: []uint16{0, 2, 3, 4}, pkt: 2, off: hdr + rec, is: capture.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "bad.pcap", c.file)
			clk := newFakeClock()
			var got []uint16
			sum, err := Play(context.Background(), path, Options{Speed: 1, Loops: 2, Now: clk.Now, Sleep: clk.Sleep}, func(p []byte, ts time.Time) {
				got = append(got, packetID(p))
			})
			if sum == nil {
				t.Fatal("nil summary")
			}
			want := c.delivered
			if !c.fatal {
				want = append(append([]uint16(nil), want...), want...) // two loops
			}
			if c.pkt >= 0 && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("delivered %v, want %v", got, want)
			}
			if sum.Delivered != len(got) {
				t.Errorf("summary says %d delivered, handler saw %d", sum.Delivered, len(got))
			}
			check := err
			if !c.fatal {
				if err != nil || sum.Err != nil {
					t.Fatalf("malformed packet stopped the replay: %v", err)
				}
				if sum.Malformed != 2 || sum.Loops != 2 {
					t.Fatalf("malformed %d loops %d, want 2 and 2", sum.Malformed, sum.Loops)
				}
				check = sum.MalformedErr
			} else {
				if err == nil || sum.Err != err {
					t.Fatalf("err %v, summary err %v", err, sum.Err)
				}
				if fe := (*capture.FileError)(nil); errors.As(err, &fe) && fe.Packet > 0 && len(got) != fe.Packet-1 {
					t.Errorf("%d packets delivered before the damage at packet %d", len(got), fe.Packet)
				}
				if sum.Loops != 0 {
					t.Errorf("%d complete loops of a damaged file", sum.Loops)
				}
			}
			var fe *capture.FileError
			if !errors.As(check, &fe) {
				t.Fatalf("error %v (%T) does not wrap a *capture.FileError", check, check)
			}
			if (c.pkt >= 0 && fe.Packet != c.pkt) || (c.off >= 0 && fe.Offset != c.off) {
				t.Fatalf("error %q: packet %d offset %d, want %d and %d", check, fe.Packet, fe.Offset, c.pkt, c.off)
			}
			if c.is != nil && !errors.Is(check, c.is) {
				t.Errorf("error %q is not %v", check, c.is)
			}
			msg := check.Error()
			wantText := fmt.Sprintf("packet %d at byte %d", fe.Packet, fe.Offset)
			if fe.Packet == 0 {
				wantText = fmt.Sprintf("file header at byte %d", fe.Offset)
			}
			if !strings.Contains(msg, wantText) || !strings.HasPrefix(msg, "replay: ") {
				t.Errorf("error text %q does not say %q", msg, wantText)
			}
			t.Logf("%v", msg)
		})
	}
}

// FuzzPlay feeds damaged files to Play: it must never panic and its summary
// must agree with what the handler saw.
func FuzzPlay(f *testing.F) {
	offs := capOffsets{0, time.Millisecond, time.Second}
	f.Add(pcapRaw(f, offs))
	f.Add(pcapngEthernet(f, offs))
	f.Add(gzipped(f, pcapRaw(f, offs)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := writeTempIn(t, dir, b)
		clk := newFakeClock()
		n := 0
		sum, _ := Play(context.Background(), path, Options{Speed: 1, MaxGap: time.Second, Loops: 2, Now: clk.Now, Sleep: clk.Sleep},
			func([]byte, time.Time) { n++ })
		if sum == nil || sum.Delivered != n {
			t.Fatalf("summary %+v, handler saw %d", sum, n)
		}
	})
}
