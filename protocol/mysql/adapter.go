package mysql

// Protocol is the engine's per-session interface (package protocol on the
// engine branch) as this package needs it. It differs in one way: Online
// and Target append client bytes too, because the Session answers the
// target's auth challenges itself (bytes the real client never sent) and
// releases client commands it held until the target's greeting, login or
// statement id arrived. When package protocol lands on main with that
// change, Needs/Mark/Exchange in exchange.go become aliases of its types
// and this assertion names protocol.Protocol.
type Protocol interface {
	Needs() Needs
	Client(out, p []byte) ([]byte, Mark)
	Online(out, p []byte) ([]byte, Mark)
	Target(out, p []byte) ([]byte, Mark)
	Exchange(x *Exchange) bool
}

var _ Protocol = (*Session)(nil)

// Open returns the Protocol state of one session: New when the capture
// holds its start (the engine saw the SYN), NewResumed otherwise.
func Open(cfg Config, midstream bool) (*Session, error) {
	if midstream {
		return NewResumed(cfg)
	}
	return New(cfg), nil
}
