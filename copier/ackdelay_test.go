package copier

import (
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestAckDelay: a single pushed response segment (or one with the FIN)
// waits for the client's next request to carry its ACK (up to maxDelAck);
// a segment without PSH, or two segments, are acked after the short delay
// (half the captured round trip of 2 ms, plus minRTT).
func TestAckDelay(t *testing.T) {
	const quick = 2 * time.Millisecond
	type seg struct {
		flags uint8
		plen  int
	}
	for _, tc := range []struct {
		name    string
		segs    []seg
		wait    time.Duration // no ACK before this
		ackBy   time.Duration // a pure ACK of everything by then, unless the next request carries it
		request bool          // the client's next request is captured before wait ends
	}{
		{name: "pushed segment, next request carries the ACK", segs: []seg{{wire.FlagACK | wire.FlagPSH, 300}}, wait: 30 * time.Millisecond, request: true},
		{name: "pushed segment, no request", segs: []seg{{wire.FlagACK | wire.FlagPSH, 300}}, wait: time.Duration(maxDelAck) - time.Millisecond, ackBy: time.Duration(maxDelAck) + time.Millisecond},
		{name: "segment without PSH", segs: []seg{{wire.FlagACK, 300}}, wait: quick - 500*time.Microsecond, ackBy: quick + time.Millisecond},
		{name: "two pushed segments", segs: []seg{{wire.FlagACK | wire.FlagPSH, 300}, {wire.FlagACK | wire.FlagPSH, 200}}, wait: quick - 500*time.Microsecond, ackBy: quick + time.Millisecond},
		{name: "response, then a FIN of its own", segs: []seg{{wire.FlagACK | wire.FlagPSH, 300}, {wire.FlagACK | wire.FlagFIN, 0}}, wait: quick - 500*time.Microsecond, ackBy: quick + time.Millisecond},
		{name: "response with the FIN", segs: []seg{{wire.FlagACK | wire.FlagPSH | wire.FlagFIN, 300}}, wait: time.Duration(maxDelAck) - time.Millisecond, ackBy: time.Duration(maxDelAck) + time.Millisecond},
		{name: "pushed after unpushed", segs: []seg{{wire.FlagACK, 300}, {wire.FlagACK | wire.FlagPSH, 200}}, wait: quick - 500*time.Microsecond, ackBy: quick + time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c, tu := askedOnce(t)
			seq, total := uint32(targetISN+1), 0
			for _, s := range tc.segs {
				r.rec(tu, s.flags, seq, 1002, 1000, s.plen, wire.Options{})
				seq += uint32(s.plen)
				total += s.plen
				if s.flags&wire.FlagFIN != 0 {
					seq++
					total++
				}
			}
			r.advance(tc.wait)
			if sent := r.snd.take(); len(sent) != 0 {
				t.Fatalf("sent %+v within %v, want the ACK still delayed", sent, tc.wait)
			}
			want := uint32(targetISN + 1 + total)
			if tc.request {
				c.response(total)
				c.data("next")
				sent := r.snd.take()
				if len(sent) != 1 || string(sent[0].payload) != "next" || sent[0].ack != want {
					t.Fatalf("sent %+v, want the request carrying ack %d", sent, want)
				}
				// The target acks the request: nothing is due before the
				// session's idle deadline, and the wheel knows it (it wakes
				// no sooner than at the end of its look-ahead).
				r.rec(tu, wire.FlagACK, want, 1006, 1000, 0, wire.Options{})
				w := r.e.workers[0]
				s := w.sessions[tu]
				w.wheel.refresh() // as the worker's loop does after a round
				if idle := s.timers.lastActive + int64(r.e.cfg.IdleTimeout); s.wAt != idle || w.wheel.next < r.clk.Now().UnixNano()+(wheelLook-2)*wheelTick {
					t.Fatalf("armed at %d (wheel next %d), want only the idle deadline %d", s.wAt, w.wheel.next, idle)
				}
				r.advance(time.Duration(maxDelAck))
				if sent := r.snd.take(); len(sent) != 0 {
					t.Fatalf("sent %+v after the request carried the ACK", sent)
				}
				return
			}
			r.advance(tc.ackBy - tc.wait)
			sent := r.snd.take()
			if len(sent) != 1 || sent[0].flags != header.TCPFlagAck || sent[0].ack != want {
				t.Fatalf("sent %+v by %v, want one pure ACK of %d", sent, tc.ackBy, want)
			}
		})
	}
}
