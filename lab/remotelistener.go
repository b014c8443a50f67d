package lab

import (
	"maps"
	"net"
	"sync"
)

// RemoteListener wraps a listener (typically an IDServer's) and records the
// remote address:port of every accepted connection, so a test can compare
// the exact source tuples a server saw with what a replayer says it sent.
type RemoteListener struct {
	net.Listener

	mu      sync.Mutex
	remotes map[string]bool
}

// Accept records the connection's remote address.
func (l *RemoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.remotes == nil {
		l.remotes = make(map[string]bool)
	}
	l.remotes[c.RemoteAddr().String()] = true
	l.mu.Unlock()
	return c, nil
}

// Remotes returns the set of remote address:port strings accepted so far.
func (l *RemoteListener) Remotes() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.remotes)
}
