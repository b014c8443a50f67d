package replay

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// t0 is the capture time of the first packet of the test files.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// ipPacket is an IPv4/UDP packet whose IP ID field carries id.
func ipPacket(id uint16, payload int) []byte {
	p := make([]byte, 28+payload)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:6], id)
	p[8], p[9] = 64, 17
	copy(p[12:16], []byte{192, 0, 2, 1})
	copy(p[16:20], []byte{10, 0, 0, 1})
	binary.BigEndian.PutUint16(p[20:22], 40000)
	binary.BigEndian.PutUint16(p[22:24], 80)
	binary.BigEndian.PutUint16(p[24:26], uint16(8+payload))
	return p
}

// packetID reads back the id of ipPacket.
func packetID(p []byte) uint16 { return binary.BigEndian.Uint16(p[4:6]) }

// capOffsets gives packet i of a test file the capture time t0+offs[i]
// and the id i.
type capOffsets []time.Duration

// pcapRaw encodes the packets as a nanosecond pcap file of link type raw IP.
func pcapRaw(t testing.TB, offs capOffsets) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	for i, o := range offs {
		p := ipPacket(uint16(i), 12)
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(o), CaptureLength: len(p), Length: len(p)}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// pcapngEthernet encodes the packets as pcapng with Ethernet frames.
func pcapngEthernet(t testing.TB, offs capOffsets) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range offs {
		p := ipPacket(uint16(i), 12)
		f := make([]byte, 14, 14+len(p))
		copy(f[0:6], []byte{2, 0, 0, 0, 0, 1})
		copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
		binary.BigEndian.PutUint16(f[12:14], 0x0800)
		f = append(f, p...)
		for len(f) < 60 {
			f = append(f, 0) // Ethernet padding, cut by the IP length
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(o), CaptureLength: len(f), Length: len(f), InterfaceIndex: 0}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// formats are the file encodings every timing case runs on.
var formats = []struct {
	name   string
	encode func(testing.TB, capOffsets) []byte
}{
	{"pcap-raw", pcapRaw},
	{"pcapng-ethernet", pcapngEthernet},
	{"pcap-raw.gz", func(t testing.TB, o capOffsets) []byte { return gzipped(t, pcapRaw(t, o)) }},
	{"pcapng-ethernet.gz", func(t testing.TB, o capOffsets) []byte { return gzipped(t, pcapngEthernet(t, o)) }},
}

// fakeClock is a clock that moves only when slept on.
type fakeClock struct {
	now   time.Time
	slept time.Duration
	naps  int
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(d time.Duration) {
	c.now = c.now.Add(d)
	c.slept += d
	c.naps++
}

// delivery is one call of the handler.
type delivery struct {
	id uint16
	ts time.Time // what the handler was given
	at time.Time // the clock when it was called
	n  int       // packet length
}

func writeTempIn(t testing.TB, dir string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, "fuzz.pcap")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
