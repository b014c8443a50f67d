package capture

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecorderRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.pcapng")
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []got
	for i := 0; i < 200; i++ {
		p := p4
		if i%3 == 0 {
			p = p6
		}
		p = append([]byte(nil), p...)
		p[len(p)-1] = byte(i)
		ts := t0.Add(time.Duration(i)*time.Millisecond + time.Duration(i)) // ns precision
		if err := r.Write(p, ts); err != nil {
			t.Fatal(err)
		}
		want = append(want, got{p, ts})
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(p4, t0); err == nil {
		t.Error("Write after Close succeeded")
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := readAll(t, f)
	if err != io.EOF || len(out) != len(want) {
		t.Fatalf("read %d packets (err %v), want %d", len(out), err, len(want))
	}
	for i := range want {
		if !bytes.Equal(out[i].pkt, want[i].pkt) || !out[i].ts.Equal(want[i].ts) {
			t.Fatalf("packet %d: got %x at %v, want %x at %v", i, out[i].pkt, out[i].ts, want[i].pkt, want[i].ts)
		}
	}

	// tcpdump reads it too and sees the same packets.
	if _, err := exec.LookPath("tcpdump"); err == nil {
		outb, err := exec.Command("tcpdump", "-nn", "-r", path).CombinedOutput()
		if err != nil {
			t.Fatalf("tcpdump: %v\n%s", err, outb)
		}
		if n := strings.Count(string(outb), "> 10.0.0.1.80:") + strings.Count(string(outb), "> fd00::1.443:"); n != len(want) {
			t.Fatalf("tcpdump shows %d packets, want %d:\n%s", n, len(want), outb)
		}
	}
}

func TestRecorderConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.pcapng")
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:1000", w+1))
			for i := 0; i < each; i++ {
				p := tcpPacket(src, netip.MustParseAddrPort("10.0.0.1:80"), fmt.Sprintf("%05d", i), 0)
				if err := r.Write(p, t0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	out, err := readAll(t, f)
	if err != io.EOF {
		t.Fatal(err)
	}
	for _, g := range out {
		seen[fmt.Sprintf("%d/%s", g.pkt[15], g.pkt[len(g.pkt)-5:])] = true
	}
	if len(out) != writers*each || len(seen) != writers*each {
		t.Fatalf("%d packets, %d distinct; want %d", len(out), len(seen), writers*each)
	}
}

func TestRecorderBadPath(t *testing.T) {
	if _, err := NewRecorder(filepath.Join(t.TempDir(), "no", "such", "dir.pcapng")); err == nil {
		t.Fatal("NewRecorder in a missing directory succeeded")
	}
}

func BenchmarkRecorderWrite(b *testing.B) {
	r, err := NewRecorder(filepath.Join(b.TempDir(), "bench.pcapng"))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(p4)))
	for b.Loop() {
		if err := r.Write(p4, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
