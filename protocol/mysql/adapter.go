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
// address (the Store key for saved logins). Sessions opened and refused
// at the start are counted in cfg.Stats, except the engine's probe for
// Needs (a Start without a client address), which is no session.
func Protocol(cfg Config) protocol.New {
	return func(st protocol.Start) (protocol.Protocol, error) {
		if !st.Client.IsValid() {
			return New(Config{}), nil
		}
		c := cfg
		c.ClientAddr = st.Client.Addr().String()
		s, err := Open(c, st.Midstream)
		if err != nil {
			if f, ok := err.(*Fate); ok {
				c.Stats.fate(f.Code)
			} else {
				c.Stats.fate(FateProtocol)
			}
			return nil, err
		}
		if c.Stats != nil {
			if st.Midstream {
				c.Stats.Resumed.Add(1)
			} else {
				c.Stats.Sessions.Add(1)
			}
		}
		return s, nil
	}
}

// WithOptions returns cfg with what the route's configuration asks of
// its protocol.
func (cfg Config) WithOptions(o protocol.Options) Config {
	cfg.Compare, cfg.Keep = o.Compare, o.Keep
	return cfg
}
