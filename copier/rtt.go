package copier

// sample folds one round-trip measurement into the smoothed estimate
// and sets the retransmission timeout from it (RFC 6298 2.2, 2.3).
func (e *rttEstimate) sample(r int64) {
	r = max(r, 0)
	if !e.valid {
		e.srtt, e.rttvar, e.valid = r, r/2, true
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.rto = e.estimatedRTO()
}

// estimatedRTO is srtt + 4·rttvar within [baseRTO, maxRTO], or the
// initial timeout while nothing was measured.
func (e *rttEstimate) estimatedRTO() int64 {
	if !e.valid {
		return initialRTO
	}
	return min(max(e.srtt+4*e.rttvar, baseRTO), maxRTO)
}
