package copier

import (
	"encoding/binary"
	"net/netip"

	"github.com/replaygw/replaygw/wire"
)

// Fixed keys: sampling must give the same answer for a tuple on every run
// and every host, so that whole connections are kept or dropped.
const (
	sampleKey = 0x9e3779b97f4a7c15
	shardKey  = 0xc2b2ae3d27d4eb4f
)

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

const hashMul = 0x9fb21c651e98df25

func hashAddrPort(h uint64, ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	h = (h ^ binary.LittleEndian.Uint64(a[0:8])) * hashMul
	h = (h ^ binary.LittleEndian.Uint64(a[8:16])) * hashMul
	return (h ^ uint64(ap.Port())) * hashMul
}

// hashTuple is a keyed, allocation-free hash of a tuple.
func hashTuple(key uint64, t wire.Tuple) uint64 {
	return mix64(hashAddrPort(hashAddrPort(key, t.Client), t.Target))
}

// sampleBucket maps a captured tuple uniformly into [0, 100) with a
// resolution of 1/100 percent.
func sampleBucket(orig wire.Tuple) float64 {
	return float64(hashTuple(sampleKey, orig)%10000) / 100
}

// sampled reports whether the session with the captured tuple orig is
// replayed at percent (0..100).
func sampled(orig wire.Tuple, percent float64) bool {
	if percent >= 100 {
		return true
	}
	return sampleBucket(orig) < percent
}
