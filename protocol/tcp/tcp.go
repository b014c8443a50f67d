// Package tcp is the passthrough protocol: the client's bytes go to the
// target exactly as captured, with no message boundaries and no exchanges.
// Its Needs is zero, so the copier keeps no protocol state for its
// sessions and runs its fast path unchanged.
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
