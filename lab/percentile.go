package lab

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0..100, nearest rank) of d, or 0
// for an empty slice. It sorts d in place.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(math.Ceil(p/100*float64(len(d)))) - 1
	rank = max(0, min(rank, len(d)-1))
	return d[rank]
}
