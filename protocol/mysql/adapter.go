package mysql

import "github.com/replaygw/replaygw/protocol"

var _ protocol.Protocol = (*Session)(nil)

// Open returns the Protocol state of one session: New when the capture
// holds its start (the engine saw the SYN), NewResumed otherwise.
func Open(cfg Config, midstream bool) (*Session, error) {
	if midstream {
		return NewResumed(cfg)
	}
	return New(cfg), nil
}
