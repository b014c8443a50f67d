package copier

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/replaygw/replaygw/lab/netns"
)

// sndSinkPacket is a TCP packet of size bytes to the benchmark sink.
func sndSinkPacket(sink netip.AddrPort, size int) []byte {
	p := sndSYN(sndPoolClient(sink, 40000), sink, 1)
	p = append(p, make([]byte, size-len(p))...)
	if p[0]>>4 == 4 {
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	} else {
		binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
	}
	return p
}

func benchSender(b *testing.B, send func([]byte) error, pkt []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := send(pkt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

func BenchmarkRawSender(b *testing.B) {
	lab := newSndLab(b)
	s := openRawIn(b, lab.nsC)
	for _, c := range []struct {
		name string
		sink netip.AddrPort
		size int
	}{{"v4/64B", sndSink4, 64}, {"v4/1500B", sndSink4, 1500}, {"v6/80B", sndSink6, 80}} {
		pkt := sndSinkPacket(c.sink, c.size)
		b.Run(c.name, func(b *testing.B) { benchSender(b, s.Send, pkt) })
	}
	b.Run("v4/64B/parallel", func(b *testing.B) {
		pkt := sndSinkPacket(sndSink4, 64)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Send(pkt); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
	b.Run("v4/64B/batch64", func(b *testing.B) { benchBatch(b, s.SendBatch, sndSinkPacket(sndSink4, 64)) })
}

// benchBatch sends batches of 64 copies of pkt with send.
func benchBatch(b *testing.B, send func([][]byte) (int, error), pkt []byte) {
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = pkt
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		k, err := send(batch)
		if err != nil {
			b.Fatal(err)
		}
		n += k
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}

func BenchmarkTUNSender(b *testing.B) {
	lab := newSndLab(b)
	var s *TUNSender
	netns.InNS(b, lab.nsC, func() (err error) {
		s, err = NewTUNSender(lab.id+"u", SenderOptions{})
		return err
	})
	b.Cleanup(func() { s.Close() })
	benchSender(b, s.Send, sndSinkPacket(sndSink4, 64))
}

func BenchmarkL2Sender(b *testing.B) {
	lab := newSndLab(b)
	var fixed, resolving *L2Sender
	netns.InNS(b, lab.nsC, func() (err error) {
		if fixed, err = NewL2Sender(lab.vC, sndSinkMAC, SenderOptions{}); err != nil {
			return err
		}
		if resolving, err = NewL2Sender(lab.vC, nil, SenderOptions{}); err != nil {
			fixed.Close()
		}
		return err
	})
	b.Cleanup(func() { fixed.Close(); resolving.Close() })
	pkt := sndSinkPacket(sndSink4, 64)
	b.Run("fixed-mac", func(b *testing.B) { benchSender(b, fixed.Send, pkt) })
	b.Run("neighbour-cache", func(b *testing.B) { benchSender(b, resolving.Send, pkt) })
	b.Run("fixed-mac/batch64", func(b *testing.B) { benchBatch(b, fixed.SendBatch, pkt) })
}
