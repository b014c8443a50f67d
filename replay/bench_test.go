package replay

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPlayMax reads and delivers a 100k-packet pcap file at maximum
// speed; it reports packets per second.
func BenchmarkPlayMax(b *testing.B) {
	const n = 100_000
	offs := make(capOffsets, n)
	for i := range offs {
		offs[i] = time.Duration(i) * 10 * time.Microsecond
	}
	for _, f := range formats[:3] {
		b.Run(f.name, func(b *testing.B) {
			path := writeTemp(b, "bench.pcap", f.encode(b, offs))
			var delivered, bytes int
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sum, err := Play(context.Background(), path, Options{}, func(p []byte, ts time.Time) { bytes += len(p) })
				if err != nil || sum.Delivered != n {
					b.Fatalf("delivered %d, err %v", sum.Delivered, err)
				}
				delivered += sum.Delivered
			}
			b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "packets/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
