package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/lab/netns"
)

// TestRingReads sends numbered frames in rounds of a few, more rounds than
// the ring has blocks (so the reader wraps around it), and checks that
// every frame comes out once, in order, whole, with its capture time, and
// that ready agrees with next on every read.
func TestRingReads(t *testing.T) {
	lab := newVethLab(t)
	ap := netip.MustParseAddrPort
	svc := ap("10.251.0.2:8080")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Filter: Filter{Dst: []netip.AddrPort{svc}}, BlockMB: minSocketRingMB})
	rg := l.socks[0]
	inj := newInjector(t, lab.nsA, lab.vA)
	start := time.Now().Add(-time.Second)
	rounds, next, races := rg.blocks+8, uint32(0), 0
	for r := 0; r < rounds; r++ {
		for i := 0; i < 3; i++ {
			var id [4]byte
			binary.BigEndian.PutUint32(id[:], uint32(3*r+i))
			inj.send(t, ethernet(tcpPacket(ap("10.251.0.1:1"), svc, "frame-"+string(id[:]), 0), 0))
		}
		deadline := time.Now().Add(2 * time.Second)
		for n := 0; n < 3; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of 3 frames read in 2 s", r, n)
			}
			want := rg.ready()
			frame, ts, wire, ok := rg.next()
			switch {
			case ok && !want:
				races++ // a block retired between the two looks
			case !ok && want:
				t.Fatalf("round %d: ready, but no frame", r)
			case !ok:
				time.Sleep(time.Millisecond)
				continue
			}
			if got := binary.BigEndian.Uint32(frame[len(frame)-4:]); got != next {
				t.Fatalf("frame %d read where %d was due", got, next)
			}
			if wire != len(frame) || ts.Before(start) || ts.After(time.Now()) {
				t.Fatalf("frame %d: %d bytes of %d on the wire, captured at %v", next, len(frame), wire, ts)
			}
			next++
			n++
		}
	}
	if races > rounds/4 {
		t.Fatalf("ready missed a frame in %d of %d rounds", races, rounds)
	}
}

// TestRingOpensFiltered opens rings while frames the filter rejects
// flood the interface: the filter is attached before the socket is bound,
// so none of them may reach a ring.
func TestRingOpensFiltered(t *testing.T) {
	lab := newVethLab(t)
	ap := netip.MustParseAddrPort
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Filter: Filter{Dst: []netip.AddrPort{ap("10.251.0.2:8080")}}})
	inj := newInjector(t, lab.nsA, lab.vA)
	junk := ethernet(tcpPacket(ap("10.251.0.1:1"), ap("10.251.0.2:9999"), "junk", 0), 0)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = unix.Write(inj.fd, junk)
		}
	}()
	defer func() { close(stop); <-done }()
	for i := 0; i < 5; i++ {
		var rg *ring
		netns.InNS(t, lab.nsB, func() (err error) {
			rg, err = l.openSocket(8)
			return err
		})
		time.Sleep(20 * time.Millisecond) // junk flows meanwhile
		_, _, _, ok := rg.next()
		time.Sleep(10 * time.Millisecond) // a retire timeout
		_, _, _, ok2 := rg.next()
		c, err := rg.kernelCounts()
		rg.close()
		if err != nil {
			t.Fatal(err)
		}
		if ok || ok2 || c.packets != 0 {
			t.Fatalf("ring %d: a frame the filter rejects reached it (%d packets counted)", i, c.packets)
		}
	}
}

// fakeRing is a ring over ordinary memory whose blocks the test writes as
// the kernel would.
func fakeRing(blocks int) *ring { return &ring{mem: make([]byte, blocks*blockSize), blocks: blocks} }

// fill hands block b to user space with frames of the given lengths,
// each frame's bytes set to its length; bad changes one descriptor after
// writing.
func (r *ring) fill(b int, lens []int, bad func(hdr []*unix.Tpacket3Hdr)) {
	base := b * blockSize
	off := 64
	binary.NativeEndian.PutUint32(r.mem[base+bdPktsOff:], uint32(len(lens)))
	binary.NativeEndian.PutUint32(r.mem[base+bdFirstOff:], uint32(off))
	var hdrs []*unix.Tpacket3Hdr
	for i, n := range lens {
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[base+off]))
		*h = unix.Tpacket3Hdr{Sec: 1, Nsec: uint32(i), Snaplen: uint32(n), Len: uint32(n), Mac: 80}
		for j := 0; j < n; j++ {
			r.mem[base+off+80+j] = byte(n)
		}
		step := (80 + n + 15) &^ 15
		if i < len(lens)-1 {
			h.Next_offset = uint32(step)
		}
		off += step
		hdrs = append(hdrs, h)
	}
	if bad != nil {
		bad(hdrs)
	}
	*r.status(b) = unix.TP_STATUS_USER
}

// TestRingWalk reads blocks the test wrote: frames in order, blocks given
// back to the kernel once read, a descriptor pointing out of its block
// ending that block (nothing read out of it), and the wrap of the ring.
func TestRingWalk(t *testing.T) {
	cases := []struct {
		name string
		lens [][]int // frames of each block handed out, in ring order
		bad  func([]*unix.Tpacket3Hdr)
		want []int // lengths read
	}{
		{"one block", [][]int{{10, 20, 30}}, nil, []int{10, 20, 30}},
		{"wraps", [][]int{{1}, {2, 3}, {4}, {5}}, nil, []int{1, 2, 3, 4, 5}},
		{"empty block", [][]int{{}, {7}}, nil, []int{7}},
		{"snap past the block", [][]int{{10, 20}, {5}}, func(h []*unix.Tpacket3Hdr) { h[1].Snaplen = blockSize }, []int{10, 5}},
		{"next offset past the block", [][]int{{10, 20, 30}, {5}}, func(h []*unix.Tpacket3Hdr) { h[0].Next_offset = blockSize }, []int{10, 5}},
		{"mac past the block", [][]int{{10}, {5}}, func(h []*unix.Tpacket3Hdr) { h[0].Mac = 65535; h[0].Snaplen = blockSize - 100 }, []int{5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := fakeRing(3)
			var got []int
			for i, lens := range c.lens {
				var bad func([]*unix.Tpacket3Hdr)
				if i == 0 {
					bad = c.bad
				}
				b := i % r.blocks
				if i >= r.blocks {
					// The kernel reuses a block only after it was given back.
					for r.userBlock(b) {
						frame, _, _, ok := r.next()
						if !ok {
							t.Fatalf("block %d still in user space with nothing to read", b)
						}
						got = append(got, len(frame))
					}
				}
				r.fill(b, lens, bad)
			}
			for {
				frame, ts, wire, ok := r.next()
				if !ok {
					break
				}
				if wire != len(frame) || ts.Unix() != 1 || (len(frame) > 0 && frame[0] != byte(len(frame))) {
					t.Fatalf("frame of %d bytes: wire %d, time %v, first byte %d", len(frame), wire, ts, frame[0])
				}
				got = append(got, len(frame))
			}
			if len(got) != len(c.want) {
				t.Fatalf("read %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("read %v, want %v", got, c.want)
				}
			}
			for b := 0; b < r.blocks; b++ {
				if b != r.cur && r.userBlock(b) {
					t.Fatalf("block %d read but not given back", b)
				}
			}
			if r.ready() {
				t.Fatal("ready with everything read")
			}
		})
	}
}
