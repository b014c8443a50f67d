// Package protocoltest drives a protocol.Protocol in tests the way the
// copier's engine does: open a session, feed its streams, take its
// exchanges (payloads copied, as they alias the protocol's buffers).
//
// Data flow:
//
//	Open(New, Start) -> Protocol -> Streams (client cut in two, online,
//	target in halves, ends) -> Drain -> []protocol.Exchange
package protocoltest

import (
	"bytes"
	"testing"

	"github.com/replaygw/replaygw/protocol"
)

// Open makes a session of nw, failing t on an error.
func Open(t testing.TB, nw protocol.New, st protocol.Start) protocol.Protocol {
	t.Helper()
	p, err := nw(st)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Drain takes every finished exchange of p, payloads copied.
func Drain(p protocol.Protocol) []protocol.Exchange {
	var xs []protocol.Exchange
	for {
		var x protocol.Exchange
		if !p.Exchange(&x) {
			return xs
		}
		x.RequestData = bytes.Clone(x.RequestData)
		x.OnlineData = bytes.Clone(x.OnlineData)
		x.TargetData = bytes.Clone(x.TargetData)
		xs = append(xs, x)
	}
}

// Streams feeds p a whole session: client cut at cut (modulo its length),
// online whole, target in two halves, then the ends of the online and
// target streams. It fails t when the client bytes do not go out
// unchanged or an exchange carries more than keep bytes on a side, and
// returns the number of calls to Client that marked a request start and
// the exchanges.
func Streams(t testing.TB, p protocol.Protocol, client, online, target []byte, cut, keep int) (starts int, xs []protocol.Exchange) {
	t.Helper()
	k := cut % (len(client) + 1)
	var out []byte
	for _, piece := range [][]byte{client[:k], client[k:]} {
		var m protocol.Mark
		out, m = p.Client(out, piece, 1)
		if m&protocol.RequestStart != 0 {
			starts++
		}
	}
	if !bytes.Equal(out, client) {
		t.Fatalf("client bytes changed")
	}
	p.Online(nil, online, 2)
	p.Target(nil, target[:len(target)/2], 3)
	p.Target(nil, target[len(target)/2:], 4)
	p.End(nil, protocol.SideOnline, 5)
	p.End(nil, protocol.SideTarget, 5)
	xs = Drain(p)
	for _, x := range xs {
		if len(x.RequestData) > keep || len(x.OnlineData) > keep || len(x.TargetData) > keep {
			t.Fatalf("payload beyond Keep %d: %+v", keep, x)
		}
	}
	return starts, xs
}
