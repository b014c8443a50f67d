package copier

import (
	"bytes"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/counter"
	"github.com/replaygw/replaygw/lab/netns"
)

// sndPoolClient returns the pool client address of the family of target.
func sndPoolClient(target netip.AddrPort, port uint16) netip.AddrPort {
	if target.Addr().Is6() {
		return netip.AddrPortFrom(sndPool6, port)
	}
	return netip.AddrPortFrom(sndPool4, port)
}

func openRawIn(t testing.TB, ns string) *RawSender {
	t.Helper()
	var s *RawSender
	netns.InNS(t, ns, func() (err error) {
		s, err = NewRawSender(SenderOptions{})
		return err
	})
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRawSenderSYN: a hand-built SYN from a pool address reaches the
// target byte for byte, and the target's kernel answers it.
func TestRawSenderSYN(t *testing.T) {
	lab := newSndLab(t)
	s := openRawIn(t, lab.nsC)
	for _, target := range []netip.AddrPort{sndTarget4, sndTarget6} {
		t.Run(target.String(), func(t *testing.T) {
			client := sndPoolClient(target, 40001)
			atT := newSndCapture(t, lab.nsT, lab.vT, target)
			atC := newSndCapture(t, lab.nsC, lab.vC, client)
			syn := sndSYN(client, target, 1000)
			if err := s.Send(syn); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := atT.wait(1, 3*time.Second, func(p []byte) bool { return bytes.Equal(p, syn) })
			if len(got) != 1 {
				t.Fatal("the target did not receive the SYN unchanged")
			}
			if len(atC.wait(1, 3*time.Second, isSYNACKFor(client, 1000))) == 0 {
				t.Fatal("no SYN-ACK from the target")
			}
		})
	}
	if s.Stats().Sent.Load() != 2 || s.Stats().TotalErrors() != 0 {
		t.Fatalf("sent %d, errors %d", s.Stats().Sent.Load(), s.Stats().TotalErrors())
	}
}

// TestRawSenderErrorsCounted: unreachable, oversized and invalid packets
// fail, are counted by reason, and the sender keeps working.
func TestRawSenderErrorsCounted(t *testing.T) {
	lab := newSndLab(t)
	s := openRawIn(t, lab.nsC)
	big := sndSYN(sndPoolClient(sndTarget4, 1), sndTarget4, 1)
	big = append(big, make([]byte, 3000)...) // DF set, 3000 > MTU 1500
	big[2], big[3] = byte(len(big)>>8), byte(len(big))
	big6 := sndSYN(sndPoolClient(sndTarget6, 1), sndTarget6, 1)
	big6 = append(big6, make([]byte, 3000)...)
	big6[4], big6[5] = byte((len(big6)-40)>>8), byte(len(big6)-40)
	cases := []struct {
		name   string
		pkt    []byte
		errno  error
		reason string
	}{
		{"v4 no route", sndSYN(netip.MustParseAddrPort("10.88.0.7:1"), netip.MustParseAddrPort("192.0.2.55:80"), 1), unix.ENETUNREACH, "enetunreach"},
		{"v6 no route", sndSYN(netip.MustParseAddrPort("[fd00:88::7]:1"), netip.MustParseAddrPort("[2001:db8::55]:80"), 1), unix.ENETUNREACH, "enetunreach"},
		{"v4 larger than MTU", big, unix.EMSGSIZE, "emsgsize"},
		{"v6 larger than MTU", big6, unix.EMSGSIZE, "emsgsize"},
		{"not IP", []byte{1, 2, 3}, ErrInvalidPacket, "invalid_packet"},
		{"empty", nil, ErrInvalidPacket, "invalid_packet"},
	}
	for _, c := range cases {
		before := s.Stats().ErrorCount(c.reason)
		err := s.Send(c.pkt)
		if !errors.Is(err, c.errno) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.errno)
		}
		if got := s.Stats().ErrorCount(c.reason); got != before+1 {
			t.Errorf("%s: %s count %d, want %d", c.name, c.reason, got, before+1)
		}
	}
	// A failing packet inside a batch is counted; the ones after it go.
	unreach := s.Stats().ErrorCount("enetunreach")
	n, err := s.SendBatch([][]byte{
		sndSYN(sndPoolClient(sndTarget4, 50001), sndTarget4, 1),
		cases[0].pkt,
		sndSYN(sndPoolClient(sndTarget4, 50002), sndTarget4, 1),
	})
	if n != 2 || !errors.Is(err, unix.ENETUNREACH) || s.Stats().ErrorCount("enetunreach") != unreach+1 {
		t.Fatalf("batch with an unreachable packet: sent %d, err %v", n, err)
	}
	// Still working afterwards.
	atT := newSndCapture(t, lab.nsT, lab.vT, sndTarget4)
	syn := sndSYN(sndPoolClient(sndTarget4, 40002), sndTarget4, 5)
	if err := s.Send(syn); err != nil {
		t.Fatal(err)
	}
	if len(atT.wait(1, 3*time.Second, func(p []byte) bool { return bytes.Equal(p, syn) })) != 1 {
		t.Fatal("SYN after the errors did not arrive")
	}
	if c, ok := counter.Find(s.Counters(), `sender_errors_total{sender="raw",errno="emsgsize"}`); !ok || c.Value() != 2 {
		t.Fatalf("counters: %+v", s.Counters())
	}
}

// TestRawSenderConcurrentAndBatch: several goroutines and SendBatch, every
// packet arrives once.
func TestRawSenderConcurrentAndBatch(t *testing.T) {
	lab := newSndLab(t)
	s := openRawIn(t, lab.nsC)
	atT := newSndCapture(t, lab.nsT, lab.vT, sndTarget4, sndTarget6)
	// Resolve the target's MAC first: while ARP/ND runs the kernel queues
	// only a few packets per neighbour and drops the rest.
	for i, target := range []netip.AddrPort{sndTarget4, sndTarget6} {
		warm := sndSYN(sndPoolClient(target, 9), target, 9)
		if err := s.Send(warm); err != nil {
			t.Fatal(err)
		}
		if len(atT.wait(i+1, 3*time.Second, func([]byte) bool { return true })) != i+1 {
			t.Fatal("warm-up SYN lost")
		}
	}
	const goroutines, each = 4, 100
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				target := sndTarget4
				if i%2 == 1 {
					target = sndTarget6
				}
				if err := s.Send(sndSYN(sndPoolClient(target, uint16(10000+g*1000+i)), target, uint32(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var batch [][]byte
	for i := 0; i < 150; i++ { // more than one sendmmsg of 64, both families
		target := sndTarget4
		if i%3 == 0 {
			target = sndTarget6
		}
		batch = append(batch, sndSYN(sndPoolClient(target, uint16(30000+i)), target, 7))
	}
	batch = append(batch, []byte{0xff}) // counted, does not stop the rest
	n, err := s.SendBatch(batch)
	if n != 150 || !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("SendBatch sent %d, err %v", n, err)
	}
	want := goroutines*each + 150 + 2
	got := atT.wait(want, 5*time.Second, func(p []byte) bool { _, _, _, ok := sndTCP(p); return ok })
	ports := map[netip.AddrPort]bool{}
	for _, p := range got {
		src, _, _, _ := sndTCP(p)
		ports[src] = true
	}
	if len(got) != want || len(ports) != want {
		st := atT.live.Stats()
		t.Fatalf("target got %d packets from %d clients, want %d (capture: kernel packets %d drops %d)",
			len(got), len(ports), want, st.KernelPackets.Load(), st.KernelDrops.Load())
	}
	if s.Stats().Sent.Load() != uint64(want) || s.Stats().ErrorCount("invalid_packet") != 1 {
		t.Fatalf("stats: sent %d invalid %d", s.Stats().Sent.Load(), s.Stats().ErrorCount("invalid_packet"))
	}
}

// TestTUNSender: packets written into the TUN are forwarded by the kernel to
// the target, which answers.
func TestTUNSender(t *testing.T) {
	lab := newSndLab(t)
	var s *TUNSender
	name := lab.id + "u"
	netns.InNS(t, lab.nsC, func() (err error) {
		s, err = NewTUNSender(name, SenderOptions{})
		return err
	})
	t.Cleanup(func() { s.Close() })
	if s.Name() != name {
		t.Fatalf("device %q, want %q", s.Name(), name)
	}
	for _, target := range []netip.AddrPort{sndTarget4, sndTarget6} {
		t.Run(target.String(), func(t *testing.T) {
			client := sndPoolClient(target, 40003)
			atT := newSndCapture(t, lab.nsT, lab.vT, target)
			atC := newSndCapture(t, lab.nsC, lab.vC, client)
			syn := sndSYN(client, target, 2000)
			if err := s.Send(syn); err != nil {
				t.Fatal(err)
			}
			got := atT.wait(1, 3*time.Second, func(p []byte) bool {
				src, dst, tcp, ok := sndTCP(p)
				return ok && src == client && dst == target && tcp.SequenceNumber() == 2000 && tcp.Flags() == 0x02
			})
			if len(got) != 1 {
				t.Fatal("the forwarded SYN did not reach the target")
			}
			if len(atC.wait(1, 3*time.Second, isSYNACKFor(client, 2000))) == 0 {
				t.Fatal("no SYN-ACK from the target")
			}
		})
	}
	if err := s.Send([]byte{0x45}); !errors.Is(err, ErrInvalidPacket) || s.Stats().ErrorCount("invalid_packet") != 1 {
		t.Fatalf("invalid packet: %v", err)
	}
	if s.Stats().Sent.Load() != 2 {
		t.Fatalf("sent %d", s.Stats().Sent.Load())
	}
}

// TestL2Sender: with the next hop's MAC given, and resolved from the
// neighbour table (a failure while it is unknown, counted).
func TestL2Sender(t *testing.T) {
	lab := newSndLab(t)
	var resolving, fixed *L2Sender
	netns.InNS(t, lab.nsC, func() (err error) {
		if resolving, err = NewL2Sender(lab.vC, nil, SenderOptions{}); err != nil {
			return err
		}
		if fixed, err = NewL2Sender(lab.vC, lab.macT, SenderOptions{}); err != nil {
			resolving.Close()
		}
		return err
	})
	t.Cleanup(func() { resolving.Close(); fixed.Close() })
	atT := newSndCapture(t, lab.nsT, lab.vT, sndTarget4, sndTarget6)
	atC := newSndCapture(t, lab.nsC, lab.vC, sndPoolClient(sndTarget4, 40004), sndPoolClient(sndTarget6, 40004), sndPoolClient(sndTarget4, 40005))

	// Unknown next hop: counted, not fatal.
	syn := sndSYN(sndPoolClient(sndTarget4, 40005), sndTarget4, 1)
	if err := resolving.Send(syn); !errors.Is(err, ErrNoNeighbour) || resolving.Stats().ErrorCount("no_neighbour") == 0 {
		t.Fatalf("send without a neighbour entry: %v", err)
	}
	// The failed send asked the kernel to resolve the target: a later one
	// goes out.
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := resolving.Send(syn)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoNeighbour) || time.Now().After(deadline) {
			t.Fatalf("send while the neighbour resolves: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, target := range []netip.AddrPort{sndTarget4, sndTarget6} {
		client := sndPoolClient(target, 40004)
		if err := fixed.Send(sndSYN(client, target, 3000)); err != nil {
			t.Fatal(err)
		}
		if len(atC.wait(1, 3*time.Second, isSYNACKFor(client, 3000))) == 0 {
			t.Fatalf("%v: no SYN-ACK from the target", target)
		}
	}
	for _, want := range [][]byte{syn, sndSYN(sndPoolClient(sndTarget6, 40004), sndTarget6, 3000)} {
		if len(atT.wait(1, 3*time.Second, func(p []byte) bool { return bytes.Equal(p, want) })) != 1 {
			t.Fatalf("target did not receive %x unchanged", want[:20])
		}
	}
	big := append(sndSYN(sndPoolClient(sndTarget4, 1), sndTarget4, 1), make([]byte, 3000)...)
	if err := fixed.Send(big); !errors.Is(err, unix.EMSGSIZE) || fixed.Stats().ErrorCount("emsgsize") != 1 {
		t.Fatalf("oversized frame: %v", err)
	}
	if fixed.Stats().Sent.Load() != 2 || resolving.Stats().Sent.Load() != 1 {
		t.Fatalf("sent %d / %d", fixed.Stats().Sent.Load(), resolving.Stats().Sent.Load())
	}
}

// TestL2SenderBatch: SendBatch sends every frame once, unchanged, across
// more than one sendmmsg, both families, and counts the failed ones
// (a frame too large, a packet that is not IP) without losing the rest.
func TestL2SenderBatch(t *testing.T) {
	lab := newSndLab(t)
	var s *L2Sender
	netns.InNS(t, lab.nsC, func() (err error) {
		s, err = NewL2Sender(lab.vC, lab.macT, SenderOptions{})
		return err
	})
	t.Cleanup(func() { s.Close() })
	atT := newSndCapture(t, lab.nsT, lab.vT, sndTarget4, sndTarget6)
	var batch, want [][]byte
	for i := 0; i < 100; i++ {
		target := sndTarget4
		if i%3 == 0 {
			target = sndTarget6
		}
		p := sndSYN(sndPoolClient(target, uint16(41000+i)), target, uint32(i))
		batch, want = append(batch, p), append(want, p)
		switch i {
		case 30:
			batch = append(batch, append(sndSYN(sndPoolClient(sndTarget4, 1), sndTarget4, 1), make([]byte, 3000)...))
		case 70:
			batch = append(batch, []byte{0x00, 0x01, 0x02})
		}
	}
	n, err := s.SendBatch(batch)
	if n != len(want) || err == nil {
		t.Fatalf("SendBatch sent %d of %d (err %v), want %d and an error", n, len(batch), err, len(want))
	}
	if s.Stats().ErrorCount("emsgsize") != 1 || s.Stats().Sent.Load() != uint64(len(want)) {
		t.Fatalf("counted %d sent, %d emsgsize", s.Stats().Sent.Load(), s.Stats().ErrorCount("emsgsize"))
	}
	for i, p := range want {
		if len(atT.wait(1, 3*time.Second, func(q []byte) bool { return bytes.Equal(q, p) })) != 1 {
			t.Fatalf("frame %d did not reach the target once, unchanged", i)
		}
	}
}

func TestNewSenderErrors(t *testing.T) {
	if _, err := NewL2Sender("rgCnosuchdev", nil, SenderOptions{}); err == nil {
		t.Error("L2 sender on a missing interface")
	}
	if _, err := NewTUNSender("", SenderOptions{}); err == nil {
		t.Error("TUN sender without a name")
	}
}
