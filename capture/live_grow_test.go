package capture

import (
	"encoding/binary"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestOverlap(t *testing.T) {
	f := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name string
		old  []string // frames the old ring handed out after the new one opened
		new  []string // the new ring's first frames
		dups []bool   // which of new are skipped
	}{
		{"no overlap", []string{"a", "b"}, []string{"x", "y"}, []bool{false, false}},
		{"tail overlaps", []string{"a", "b", "c", "d"}, []string{"c", "d", "e"}, []bool{true, true, false}},
		{"whole tail", []string{"a", "b"}, []string{"a", "b", "c"}, []bool{true, true, false}},
		{"unfiltered frames first", []string{"a", "b", "c"}, []string{"arp", "b", "junk", "c", "d"}, []bool{false, true, false, true, false}},
		{"each once", []string{"a", "b"}, []string{"b", "b", "a", "a"}, []bool{true, false, true, false}},
		{"empty tail", nil, []string{"a", "a"}, []bool{false, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ov := newOverlap()
			for _, o := range c.old {
				ov.add(f(o))
			}
			r := &ringReader{skip: ov}
			for i, n := range c.new {
				if got := r.duplicate(f(n)); got != c.dups[i] {
					t.Fatalf("frame %d (%q): skipped %v, want %v", i, n, got, c.dups[i])
				}
			}
		})
	}
	ov := newOverlap()
	for i := 0; i < overlapMax+10; i++ {
		ov.add([]byte{byte(i), byte(i >> 8)})
	}
	if len(ov.tail) != overlapMax {
		t.Fatalf("tail holds %d hashes, want at most %d", len(ov.tail), overlapMax)
	}
	// The frames looked at are bounded: a frame of the tail that comes too
	// late is new traffic.
	ov = newOverlap()
	ov.add([]byte("late"))
	r := &ringReader{skip: ov}
	for i := 0; i < 1+overlapSlack; i++ {
		if r.duplicate([]byte{byte(i)}) {
			t.Fatalf("frame %d skipped", i)
		}
	}
	if r.skip != nil || r.duplicate([]byte("late")) {
		t.Fatal("still skipping after the frames to look at")
	}
}

// TestLiveRingGrowth stalls the reader of a small ring while packets keep
// coming, and checks that the ring was replaced by the configured one and
// that every packet, each with its own number, was handed out exactly once.
func TestLiveRingGrowth(t *testing.T) {
	lab := newVethLab(t)
	ap := netip.MustParseAddrPort
	svc := ap("10.251.0.2:8080")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Filter: Filter{Dst: []netip.AddrPort{svc}}, BlockMB: 16})
	if l.numBlocks[0] != minSocketRingMB<<20/blockSize || l.maxBlocks != 16<<20/blockSize {
		t.Fatalf("ring of %d blocks growing to %d, want a %d MiB ring growing to 16 MiB", l.numBlocks[0], l.maxBlocks, minSocketRingMB)
	}
	const n = 4000
	var mu sync.Mutex
	seen := make(map[uint32]int, n)
	stalled := false
	h := func(ip []byte, _ time.Time) {
		id := binary.BigEndian.Uint32(ip[len(ip)-4:])
		mu.Lock()
		seen[id]++
		first := !stalled
		stalled = true
		mu.Unlock()
		if first {
			time.Sleep(40 * time.Millisecond) // ~20 block timeouts behind
		}
	}
	stop := runLiveHandler(t, l, h)
	inj := newInjector(t, lab.nsA, lab.vA)
	frames := make([][]byte, n)
	for i := range frames {
		var id [4]byte
		binary.BigEndian.PutUint32(id[:], uint32(i))
		frames[i] = ethernet(tcpPacket(ap("10.251.0.1:1"), svc, "payload-"+string(id[:]), 0), 0)
	}
	// 4,000 packets over ~200 ms: the stall and the growth happen while
	// they flow.
	deadline := time.Now().Add(10 * time.Second)
	for i, fr := range frames {
		if _, err := unix.Write(inj.fd, fr); err != nil {
			t.Fatalf("inject %d: %v", i, err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatal("injection took too long")
		}
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if got == n {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := l.Stats()
	mu.Lock()
	defer mu.Unlock()
	var missing, twice int
	for i := uint32(0); i < n; i++ {
		switch seen[i] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	t.Logf("growths %d, kernel drops %d, ring %d blocks, missing %d, twice %d", st.RingGrowths.Load(), st.KernelDrops.Load(), l.numBlocks[0], missing, twice)
	if st.RingGrowths.Load() != 1 || l.numBlocks[0] != l.maxBlocks {
		t.Fatalf("ring grew %d times (now %d blocks), want once to %d", st.RingGrowths.Load(), l.numBlocks[0], l.maxBlocks)
	}
	if missing != 0 || twice != 0 || st.KernelDrops.Load() != 0 {
		t.Fatalf("%d packets missing, %d handed out twice, %d kernel drops; want each exactly once", missing, twice, st.KernelDrops.Load())
	}
}

// TestLiveRingGrowsWhileBehind: a reader that the traffic keeps behind
// never finds its ring empty; the ring must grow while the traffic goes
// on (at the kernel's drops or the backlog), not only once it stops.
func TestLiveRingGrowsWhileBehind(t *testing.T) {
	lab := newVethLab(t)
	svc := netip.MustParseAddrPort("10.251.0.2:8080")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Filter: Filter{Dst: []netip.AddrPort{svc}}, BlockMB: 16})
	handled := 0
	stop := runLiveHandler(t, l, func([]byte, time.Time) {
		if handled++; handled%50 == 0 {
			time.Sleep(time.Millisecond) // ~50,000 packets/s at most
		}
	})
	defer stop()
	inj := newInjector(t, lab.nsA, lab.vA)
	fr := ethernet(tcpPacket(netip.MustParseAddrPort("10.251.0.1:1"), svc, string(make([]byte, 200)), 0), 0)
	// Flood as fast as the injector goes, for at most 3 s, and stop as
	// soon as the ring has grown.
	deadline := time.Now().Add(3 * time.Second)
	for sent := 0; l.Stats().RingGrowths.Load() == 0; sent++ {
		if time.Now().After(deadline) {
			st := l.Stats()
			t.Fatalf("ring did not grow while %d packets flowed for 3 s (kernel drops %d, freezes %d)",
				sent, st.KernelDrops.Load(), st.KernelFreezes.Load())
		}
		inj.send(t, fr)
	}
	if l.numBlocks[0] != l.maxBlocks {
		t.Fatalf("ring of %d blocks after growing, want %d", l.numBlocks[0], l.maxBlocks)
	}
}

// TestAbandonedGrowthCloses: a capture that ends while its larger ring is
// being prepared closes that ring (no socket or 16 MiB mapping left
// behind).
func TestAbandonedGrowthCloses(t *testing.T) {
	lab := newVethLab(t)
	svc := netip.MustParseAddrPort("10.251.0.2:8080")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Filter: Filter{Dst: []netip.AddrPort{svc}}, BlockMB: 16})
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	l.mu.Lock()
	r := l.newReader(l.socks[0], l.numBlocks[0])
	l.mu.Unlock()
	l.prepareGrowth(r)
	g := r.growing
	r.abandonGrowth()
	<-g.ready
	if g.err != nil {
		t.Fatalf("prepare: %v", g.err)
	}
	for end := time.Now().Add(5 * time.Second); fds() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d descriptors open, %d before the growth: the abandoned ring was not closed", fds(), before)
		}
	}
	if r.growing != nil {
		t.Fatal("reader still growing after abandoning")
	}
}
