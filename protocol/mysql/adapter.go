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

// Protocol returns the engine's constructor for a route speaking MySQL:
// each session gets cfg with ClientAddr set to the captured client's
// address (the Store key for saved logins).
func Protocol(cfg Config) protocol.New {
	return func(st protocol.Start) (protocol.Protocol, error) {
		c := cfg
		c.ClientAddr = st.Client.Addr().String()
		s, err := Open(c, st.Midstream)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
