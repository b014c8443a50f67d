package mysql

import (
	"container/list"
	"sync"
)

// Store remembers, across sessions, the last login per client address and
// user and the text of prepared statements per client address and online
// statement id, both in bounded LRUs. Sessions on different workers share
// one Store; it is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	logins  lru[loginKey, *Login]
	last    map[string]loginKey // client address -> its latest login
	stmts   lru[stmtKey, string]
	Default *Login // used when an address has no saved login (see DefaultLogin)
}

type loginKey struct{ addr, user string }
type stmtKey struct {
	addr string
	id   uint32
}

// NewStore returns a Store keeping at most logins logins and stmts
// statement texts.
func NewStore(logins, stmts int) *Store {
	return &Store{
		logins: newLRU[loginKey, *Login](logins),
		stmts:  newLRU[stmtKey, string](stmts),
		last:   make(map[string]loginKey),
	}
}

// DefaultLogin is a login for user and database with the capabilities of a
// current client (protocol 4.1, plugin auth, connect with db); the target's
// capabilities are applied when it is sent.
func DefaultLogin(user, database string) *Login {
	caps := uint32(capLongPassword | capProtocol41 | capSecureConnection | capPluginAuth |
		capPluginAuthLenenc | 0x2000 /* TRANSACTIONS */ | 0x20000 /* MULTI_RESULTS */ |
		0x40000 /* PS_MULTI_RESULTS */ | 0x10000 /* MULTI_STATEMENTS */)
	if database != "" {
		caps |= capConnectWithDB
	}
	return &Login{Capabilities: caps, MaxPacket: 1 << 24, Charset: 45, User: user,
		Database: database, Plugin: pluginNative}
}

// SaveLogin records l as addr's latest login.
func (s *Store) SaveLogin(addr string, l *Login) {
	c := *l
	c.AuthResponse = nil
	k := loginKey{addr, l.User}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins.put(k, &c)
	s.last[addr] = k
	if len(s.last) > 2*s.logins.max {
		for a, k := range s.last {
			if _, ok := s.logins.get(k); !ok {
				delete(s.last, a)
			}
		}
	}
}

// Login is addr's latest saved login, or the Default.
func (s *Store) Login(addr string) (*Login, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.last[addr]; ok {
		if l, ok := s.logins.get(k); ok {
			return l, true
		}
	}
	return s.Default, s.Default != nil
}

// SaveStatement records the text of addr's statement id.
func (s *Store) SaveStatement(addr string, id uint32, text string) {
	s.mu.Lock()
	s.stmts.put(stmtKey{addr, id}, text)
	s.mu.Unlock()
}

// Statement is the text of addr's statement id.
func (s *Store) Statement(addr string, id uint32) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stmts.get(stmtKey{addr, id})
}

// lru is a bounded map evicting the least recently used key.
type lru[K comparable, V any] struct {
	max   int
	order *list.List
	m     map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	k K
	v V
}

func newLRU[K comparable, V any](max int) lru[K, V] {
	return lru[K, V]{max: max, order: list.New(), m: make(map[K]*list.Element)}
}

func (l *lru[K, V]) get(k K) (V, bool) {
	if e, ok := l.m[k]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).v, true
	}
	var zero V
	return zero, false
}

func (l *lru[K, V]) put(k K, v V) {
	if l.max <= 0 {
		return
	}
	if e, ok := l.m[k]; ok {
		e.Value.(*lruEntry[K, V]).v = v
		l.order.MoveToFront(e)
		return
	}
	l.m[k] = l.order.PushFront(&lruEntry[K, V]{k, v})
	if l.order.Len() > l.max {
		e := l.order.Back()
		l.order.Remove(e)
		delete(l.m, e.Value.(*lruEntry[K, V]).k)
	}
}

// NewResumed returns a Session for a session whose login happened before
// the capture: when the target greets, the Session logs in with the
// client's saved login (or the Store's Default) by itself; statements the
// client executes without a captured PREPARE are re-prepared from their
// saved text. The client stream must start at a command boundary.
func NewResumed(cfg Config) (*Session, error) {
	if cfg.Store == nil {
		return nil, fatef(FateNoLogin, "no store")
	}
	l, ok := cfg.Store.Login(cfg.ClientAddr)
	if !ok || l == nil {
		return nil, fatef(FateNoLogin, "no saved login for %s and no default user", cfg.ClientAddr)
	}
	s := New(cfg)
	s.resumed = true
	c := *l
	s.login = &c
	s.online.ph = phaseCommand
	s.online.caps = c.Capabilities
	// The online server's greeting is not in the capture: a MariaDB
	// client's cache-metadata request is taken as granted (every MariaDB
	// server since 10.6 does).
	s.online.cacheMeta = c.extCaps()&extCacheMetadata != 0
	return s, nil
}
