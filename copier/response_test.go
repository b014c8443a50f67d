package copier

import (
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// OnResponse gets one observation per response, on each side: the target's
// measured from the release of the request to its first response byte, the
// online server's estimated from the captured client stream.
func TestOnResponsePerRequest(t *testing.T) {
	type obs struct {
		side ResponseSide
		d    time.Duration
	}
	var got []obs
	r := newEngRig(t, func(c *Config) {
		c.OnResponse = func(s ResponseSide, d time.Duration) { got = append(got, obs{s, d}) }
	})
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false) // client round trip 2 ms
	seq := uint32(1001)
	for i, wait := range []time.Duration{5 * time.Millisecond, 9 * time.Millisecond} {
		c.data("GET /" + string(rune('a'+i)) + "\n")
		r.snd.take()
		r.clk.add(wait)
		r.rec(tu, wire.FlagACK, targetISN+1+uint32(i*10), seq+8, 1000, 10, wire.Options{})
		seq += 8
		r.clk.add(2 * time.Millisecond) // the client ACKs the online response after wait + its 2 ms round trip
		c.response(10)
		c.send(header.TCPFlagAck, nil, nil)
		r.advance(20 * time.Millisecond)
	}
	want := []obs{
		{TargetResponse, 5 * time.Millisecond}, {OnlineResponse, 5 * time.Millisecond},
		{TargetResponse, 9 * time.Millisecond}, {OnlineResponse, 9 * time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("observations %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("observation %d: %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
}
