// Package tcp is the protocol of routes without an application protocol:
// the client's bytes go to the target exactly as captured.
//
// Data flow:
//
//	uncompared route: nil New (or New, whose Needs is zero): the copier
//	                  keeps no protocol state and runs its fast path
//	compared route:   Compare -> client turns -> RequestStart
//	                  engine's Sent (a request went out) -+
//	                  online and target bytes ------------+-> the request due -> Exchange
//	                  (request and both responses for compare.Bytes)
//
// New is the passthrough Protocol: no message boundaries, no exchanges.
package tcp

import "github.com/replaygw/replaygw/protocol"

// passthrough has no state: one value serves every session, and returning
// it in an interface allocates nothing.
type passthrough struct{}

// New returns the passthrough Protocol.
func New(protocol.Start) (protocol.Protocol, error) { return passthrough{}, nil }

var _ protocol.New = New

func (passthrough) Needs() protocol.Needs { return 0 }

// Client returns the bytes unchanged.
func (passthrough) Client(out, p []byte, _ int64) ([]byte, protocol.Mark) {
	return append(out, p...), 0
}

func (passthrough) Online(out, _ []byte, _ int64) ([]byte, protocol.Mark) { return out, 0 }

func (passthrough) Target(out, _ []byte, _ int64) ([]byte, protocol.Mark) { return out, 0 }

func (passthrough) End(out []byte, _ protocol.Side, _ int64) ([]byte, protocol.Mark) {
	return out, 0
}

func (passthrough) Exchange(*protocol.Exchange) bool { return false }

func (passthrough) Fate() *protocol.Fate { return nil }
