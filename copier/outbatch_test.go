package copier

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// batchSender records SendBatch calls and fails the packets whose first
// byte is failMark.
type batchSender struct {
	engSender
	bmu     sync.Mutex
	batches []int
	sends   int
}

const failMark = 0xEE

func (s *batchSender) Send(b []byte) error {
	s.bmu.Lock()
	s.sends++
	s.bmu.Unlock()
	return s.engSender.Send(b)
}

func (s *batchSender) SendBatch(pkts [][]byte) (int, error) {
	s.bmu.Lock()
	s.batches = append(s.batches, len(pkts))
	s.bmu.Unlock()
	sent := 0
	for _, p := range pkts {
		if p[0] != failMark {
			sent++
		}
	}
	return sent, nil
}

func (s *batchSender) counts() (batches []int, sends int) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	return append([]int(nil), s.batches...), s.sends
}

// The out batch sends what a round built in one call, counts failures,
// and sends early when the batch or the arena is full.
func TestOutBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sizes   []int
		fail    int // how many of them fail
		batches []int
	}{
		{name: "one round", sizes: []int{60, 60, 1500}, batches: []int{3}},
		{name: "failures counted", sizes: []int{60, 60, 60, 60}, fail: 2, batches: []int{4}},
		{name: "batch full", sizes: make64(outBatchMax+1, 60), batches: []int{outBatchMax, 1}},
		{name: "arena full", sizes: []int{outArenaSize / 2, outArenaSize / 2, 100}, batches: []int{2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &batchSender{}
			o := newOutBatch(s)
			var st Stats
			for i, n := range tc.sizes {
				b := o.buf(&st, n)
				if len(b) != n {
					t.Fatalf("buf(%d) returned %d bytes", n, len(b))
				}
				b[0] = 0x45
				if i < tc.fail {
					b[0] = failMark
				}
				o.add(b)
			}
			o.flush(&st)
			o.flush(&st) // nothing left: no call
			got, _ := s.counts()
			if len(got) != len(tc.batches) {
				t.Fatalf("batches %v, want %v", got, tc.batches)
			}
			for i := range got {
				if got[i] != tc.batches[i] {
					t.Fatalf("batches %v, want %v", got, tc.batches)
				}
			}
			if st.PacketsSent.Load() != uint64(len(tc.sizes)-tc.fail) || st.SendErrors.Load() != uint64(tc.fail) {
				t.Fatalf("sent %d errors %d", st.PacketsSent.Load(), st.SendErrors.Load())
			}
		})
	}
	if (&outBatch{arena: make([]byte, 10)}).buf(nil, 11) != nil {
		t.Fatal("a packet larger than the arena got room")
	}
}

func make64(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// An engine whose sender can batch sends through SendBatch only, from
// the worker's rounds, and the packets arrive intact.
func TestEngineSendsInBatches(t *testing.T) {
	s := &batchSender{engSender: engSender{t: t, keep: true}}
	e, err := NewEngine(Config{Routes: []Route{{From: online4, To: target4}}, Workers: 1}, s, &engLeases{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const conns = 20
	for i := range conns {
		cl := netip.AddrPortFrom(client4.Addr(), uint16(31000+i))
		e.HandlePacketHeld(buildCaptured(capSpec{src: cl, dst: online4, seq: 100, flags: header.TCPFlagSyn}), time.Now())
	}
	e.Flush()
	deadline := time.Now().Add(3 * time.Second)
	for e.Stats().PacketsSent.Load() < conns && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	batches, sends := s.counts()
	total := 0
	for _, n := range batches {
		total += n
	}
	if e.Stats().SYNsSent.Load() != conns || e.Stats().PacketsSent.Load() != conns || total != conns {
		t.Fatalf("SYNs %d, sent %d, batched %d; want %d", e.Stats().SYNsSent.Load(), e.Stats().PacketsSent.Load(), total, conns)
	}
	if sends != 0 {
		t.Fatalf("%d packets sent one by one", sends)
	}
	if len(batches) >= conns {
		t.Fatalf("%d batches for %d held packets", len(batches), conns)
	}
}
