package lab

// MySQLServer: a small MySQL server in Go for the lab, so that a test can
// have a target that authenticates like MySQL 8 (caching_sha2_password,
// full and fast auth) without a MySQL 8 package. It is written from the
// protocol documentation, independently of protocol/mysql, so that the
// copier's rewriting is checked against a second implementation.
//
//	accept -> HandshakeV10 (the server's plugin, a 20-byte scramble)
//	       -> HandshakeResponse41 -> AuthSwitchRequest when the client's
//	          plugin is another one
//	       -> mysql_native_password: check the scramble answer
//	       -> caching_sha2_password: a user whose password was verified
//	          before takes the fast path (01 03, OK); otherwise full auth
//	          (01 04, public key request 02 -> 01 PEM, RSA-OAEP password,
//	          or the password in clear)
//	       -> commands: COM_QUERY (SELECT: a one-row result set, else OK),
//	          COM_PING, COM_INIT_DB (OK), COM_QUIT; every query is recorded

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Auth plugins the lab server speaks.
const (
	PluginNative = "mysql_native_password"
	PluginSHA2   = "caching_sha2_password"
)

// MySQLServerStats counts the server's logins.
type MySQLServerStats struct {
	FullAuth atomic.Uint64 // caching_sha2 logins verified by the RSA-encrypted password
	// ClearAuth: caching_sha2 full auth with the password in clear (as
	// MariaDB's Connector/C built without OpenSSL sends it; MySQL 8
	// would require TLS).
	ClearAuth atomic.Uint64
	FastAuth  atomic.Uint64 // caching_sha2 logins verified from the cache
	Native    atomic.Uint64 // mysql_native_password logins
	Denied    atomic.Uint64 // logins refused (ERR 1045)
	Switches  atomic.Uint64 // AuthSwitchRequests sent
}

// MySQLServer is one lab MySQL server on a listener.
type MySQLServer struct {
	Stats  MySQLServerStats
	ln     net.Listener
	plugin string
	users  map[string]string
	key    *rsa.PrivateKey
	pemKey []byte

	mu      sync.Mutex
	cached  map[string]bool // caching_sha2: users whose full auth succeeded
	queries []string
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

// NewMySQLServer serves ln with plugin (PluginNative or PluginSHA2) and
// the users' passwords until Close.
func NewMySQLServer(ln net.Listener, plugin string, users map[string]string) (*MySQLServer, error) {
	s := &MySQLServer{ln: ln, plugin: plugin, users: users, cached: map[string]bool{}, conns: map[net.Conn]bool{}}
	if plugin != PluginNative && plugin != PluginSHA2 {
		return nil, fmt.Errorf("lab: mysql server: plugin %q", plugin)
	}
	if plugin == PluginSHA2 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		s.key, s.pemKey = k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Queries returns the COM_QUERY texts received, in order.
func (s *MySQLServer) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// Close stops the server and its connections.
func (s *MySQLServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *MySQLServer) accept() {
	defer s.wg.Done()
	for id := uint32(1); ; id++ {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			_ = c.SetDeadline(time.Now().Add(time.Minute)) // a lab connection is short
			s.serve(&myConn{c: c, r: bufio.NewReader(c)}, id)
		}()
	}
}

// myConn reads and writes MySQL packets, numbering them.
type myConn struct {
	c   net.Conn
	r   *bufio.Reader
	seq byte
}

func (m *myConn) read() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(m.r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p := make([]byte, n)
	if _, err := io.ReadFull(m.r, p); err != nil {
		return nil, err
	}
	m.seq = h[3] + 1
	return p, nil
}

func (m *myConn) write(p []byte) error {
	b := make([]byte, 4, 4+len(p))
	b[0], b[1], b[2], b[3] = byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), m.seq
	m.seq++
	_, err := m.c.Write(append(b, p...))
	return err
}

const (
	srvCaps = 0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000 | 0x100000 | 0x200000
	okBytes = "\x00\x00\x00\x02\x00\x00\x00"
)

func newScramble() []byte {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b { // printable, never NUL
		b[i] = 'A' + b[i]%58
	}
	return b
}

func (s *MySQLServer) serve(m *myConn, id uint32) {
	scr := newScramble()
	g := []byte{10}
	g = append(g, "8.0.36-replaygw-lab\x00"...)
	g = binary.LittleEndian.AppendUint32(g, id)
	g = append(g, scr[:8]...)
	g = append(g, 0)
	g = binary.LittleEndian.AppendUint16(g, uint16(srvCaps&0xFFFF))
	g = append(g, 255)
	g = binary.LittleEndian.AppendUint16(g, 2)
	g = binary.LittleEndian.AppendUint16(g, uint16(srvCaps>>16))
	g = append(g, 21)
	g = append(g, make([]byte, 10)...)
	g = append(g, scr[8:]...)
	g = append(g, 0)
	g = append(g, s.plugin+"\x00"...)
	if m.write(g) != nil {
		return
	}
	p, err := m.read()
	if err != nil {
		return
	}
	user, auth, plugin, err := parseLogin41(p)
	if err != nil {
		_ = m.write(errPacket(1043, "08S01", "Bad handshake"))
		return
	}
	if !s.authenticate(m, user, auth, plugin, scr) {
		s.Stats.Denied.Add(1)
		_ = m.write(errPacket(1045, "28000", "Access denied for user '"+user+"'"))
		return
	}
	if m.write([]byte(okBytes)) != nil {
		return
	}
	s.commands(m)
}

// authenticate runs the auth exchange after the login; true: accepted.
func (s *MySQLServer) authenticate(m *myConn, user string, auth []byte, plugin string, scr []byte) bool {
	pw, known := s.users[user]
	if plugin != s.plugin {
		scr = newScramble()
		s.Stats.Switches.Add(1)
		sw := append([]byte{0xFE}, s.plugin+"\x00"...)
		if m.write(append(append(sw, scr...), 0)) != nil {
			return false
		}
		var err error
		if auth, err = m.read(); err != nil {
			return false
		}
	}
	if s.plugin == PluginNative {
		ok := known && bytes.Equal(auth, nativeAnswer(scr, pw))
		if ok {
			s.Stats.Native.Add(1)
		}
		return ok
	}
	s.mu.Lock()
	cached := s.cached[user]
	s.mu.Unlock()
	if known && cached && bytes.Equal(auth, sha2Answer(scr, pw)) {
		s.Stats.FastAuth.Add(1)
		return m.write([]byte{1, 3}) == nil
	}
	if m.write([]byte{1, 4}) != nil { // perform full authentication
		return false
	}
	p, err := m.read()
	if err != nil {
		return false
	}
	if len(p) == 1 && p[0] == 2 { // public key request
		if m.write(append([]byte{1}, s.pemKey...)) != nil {
			return false
		}
		if p, err = m.read(); err != nil {
			return false
		}
	}
	rsaAuth := len(p) == s.key.Size()
	if rsaAuth {
		plain, err := rsa.DecryptOAEP(sha1.New(), nil, s.key, p, nil)
		if err != nil {
			return false
		}
		for i := range plain {
			plain[i] ^= scr[i%len(scr)]
		}
		p = plain
	}
	if !known || string(p) != pw+"\x00" {
		return false
	}
	s.mu.Lock()
	s.cached[user] = true
	s.mu.Unlock()
	if rsaAuth {
		s.Stats.FullAuth.Add(1)
	} else {
		s.Stats.ClearAuth.Add(1)
	}
	return true
}

func (s *MySQLServer) commands(m *myConn) {
	for {
		m.seq = 0
		p, err := m.read()
		if err != nil || len(p) == 0 {
			return
		}
		switch p[0] {
		case 0x01: // COM_QUIT
			return
		case 0x03: // COM_QUERY
			q := string(p[1:])
			s.mu.Lock()
			s.queries = append(s.queries, q)
			s.mu.Unlock()
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(q)), "select") {
				err = m.resultSet("v", "lab")
			} else {
				err = m.write([]byte(okBytes))
			}
		case 0x02, 0x0E: // COM_INIT_DB, COM_PING
			err = m.write([]byte(okBytes))
		default:
			err = m.write(errPacket(1047, "08S01", "Unknown command"))
		}
		if err != nil {
			return
		}
	}
}

// resultSet writes one column and one row (classic EOF packets: the
// server does not offer CLIENT_DEPRECATE_EOF).
func (m *myConn) resultSet(name, value string) error {
	col := lenencStr(nil, "def")
	col = lenencStr(col, "")
	col = lenencStr(col, "")
	col = lenencStr(col, "")
	col = lenencStr(col, name)
	col = lenencStr(col, "")
	col = append(col, 0x0c, 33, 0, 0, 1, 0, 0, 0xFD, 0, 0, 0, 0, 0)
	eof := []byte{0xFE, 0, 0, 2, 0}
	for _, p := range [][]byte{{1}, col, eof, lenencStr(nil, value), eof} {
		if err := m.write(p); err != nil {
			return err
		}
	}
	return nil
}

func lenencStr(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

func errPacket(code uint16, state, msg string) []byte {
	b := binary.LittleEndian.AppendUint16([]byte{0xFF}, code)
	return append(append(append(b, '#'), state...), msg...)
}

// parseLogin41 reads a HandshakeResponse41: user, auth response, plugin.
func parseLogin41(p []byte) (user string, auth []byte, plugin string, err error) {
	bad := errors.New("lab: mysql server: bad login")
	if len(p) < 32 {
		return "", nil, "", bad
	}
	caps := binary.LittleEndian.Uint32(p)
	if caps&0x800 != 0 {
		return "", nil, "", errors.New("lab: mysql server: TLS is not offered")
	}
	rest := p[32:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return "", nil, "", bad
	}
	user, rest = string(rest[:i]), rest[i+1:]
	switch {
	case caps&0x200000 != 0 || caps&0x8000 != 0: // lenenc (short) or one length byte
		if len(rest) < 1 || int(rest[0]) > len(rest)-1 || rest[0] >= 0xFB {
			return "", nil, "", bad
		}
		auth, rest = rest[1:1+rest[0]], rest[1+rest[0]:]
	default:
		if i = bytes.IndexByte(rest, 0); i < 0 {
			return "", nil, "", bad
		}
		auth, rest = rest[:i], rest[i+1:]
	}
	if caps&0x8 != 0 { // database
		if i = bytes.IndexByte(rest, 0); i < 0 {
			return "", nil, "", bad
		}
		rest = rest[i+1:]
	}
	if caps&0x80000 != 0 {
		if i = bytes.IndexByte(rest, 0); i >= 0 {
			plugin = string(rest[:i])
		}
	}
	return user, auth, plugin, nil
}

// nativeAnswer is SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
func nativeAnswer(scr []byte, pw string) []byte {
	if pw == "" {
		return nil
	}
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	h3 := sha1.Sum(append(append([]byte(nil), scr...), h2[:]...))
	for i := range h1 {
		h1[i] ^= h3[i]
	}
	return h1[:]
}

// sha2Answer is SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
func sha2Answer(scr []byte, pw string) []byte {
	if pw == "" {
		return nil
	}
	h1 := sha256.Sum256([]byte(pw))
	h2 := sha256.Sum256(h1[:])
	h3 := sha256.Sum256(append(h2[:], scr...))
	for i := range h1 {
		h1[i] ^= h3[i]
	}
	return h1[:]
}
