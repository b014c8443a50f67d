package wire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Roles announced in a hello.
const (
	RoleCopier  byte = 'c'
	RoleGateway byte = 'g'
)

// Capability bits announced in a hello.
const (
	CapPayload    uint32 = 1 << iota // records may carry payload bytes
	CapLeaseTTL                      // leases expire after their TTL
	CapIPv6                          // IPv6 tuples
	CapLeaseShare                    // auth-ok carries the copier's share of the pool; taken tuples are refused
	// CapLeaseFlags: lease-add entries carry a flags byte (LeasePayload).
	// Both sides must announce it; otherwise the copier writes the
	// entries without it and its leases get the connection's PayloadCap.
	CapLeaseFlags
	// CapExchange: the gateway takes exchange frames (it compares them).
	// A copier sends none to a gateway that did not announce it.
	CapExchange
	// CapImplicitLeases: while one copier instance has the whole pool, the
	// gateway hands it the records of every tuple nobody leased, so that
	// the copier need not lease sessions that ask for no flags. When the
	// pool is split, the copier leases its live sessions at the share
	// frame, and the gateway keeps handing it unleased records for
	// ImplicitGrace meanwhile. Both sides must announce it.
	CapImplicitLeases
)

// ImplicitGrace is how long a copier that had the whole pool still gets
// the unleased records after the pool was split (CapImplicitLeases): time
// for the share frame to reach it and its leases to come back.
const ImplicitGrace = time.Second

// Share is the part of the client pool's (address, port) space a gateway
// gives one copier: the copier only takes leases on tuples of share Index
// out of Count disjoint shares, so that several copiers on one gateway
// never pick the same tuple. The zero value and {0, 1} are the whole space.
type Share struct {
	Index, Count uint16
}

// Whole reports whether s is the whole space.
func (s Share) Whole() bool { return s.Count <= 1 }

// Valid reports whether Index is inside Count (the zero value is valid).
func (s Share) Valid() bool { return s.Count == 0 && s.Index == 0 || s.Index < s.Count }

func (s Share) String() string {
	if s.Whole() {
		return "whole pool"
	}
	return fmt.Sprintf("share %d of %d", s.Index+1, s.Count)
}

// AppendShare encodes s as the auth-ok body.
func AppendShare(b []byte, s Share) []byte {
	b = binary.BigEndian.AppendUint16(b, s.Index)
	return binary.BigEndian.AppendUint16(b, s.Count)
}

// DecodeShare parses an auth-ok body.
func DecodeShare(b []byte) (Share, error) {
	if len(b) != 4 {
		return Share{}, fmt.Errorf("wire: auth-ok: %d bytes, want 4 (share index and count)", len(b))
	}
	s := Share{Index: binary.BigEndian.Uint16(b), Count: binary.BigEndian.Uint16(b[2:])}
	if !s.Valid() {
		return Share{}, fmt.Errorf("wire: auth-ok: share index %d outside count %d", s.Index, s.Count)
	}
	return s, nil
}

// Grant is the gateway's choice of a copier's share, made once the
// copier has proven the token. An error refuses the copier (CodeBusy).
type Grant func(peer Hello) (Share, error)

// Hello is the first frame each side sends.
type Hello struct {
	Version    uint16
	Role       byte
	Caps       uint32
	PayloadCap uint16 // copier: payload bytes wanted per record; gateway: most it sends
	Nonce      [32]byte
	// Instance identifies one copier process across its connections (and
	// its gateways): a reconnecting copier renews its own leases and keeps
	// its share; another instance's live leases are refused. Gateway: zero.
	Instance [16]byte
	Name     string // free text for logs (host name, instance)
}

var helloMagic = [4]byte{'R', 'G', 'W', 'H'}

// AppendHello encodes h.
func AppendHello(b []byte, h *Hello) []byte {
	b = append(b, helloMagic[:]...)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	b = append(b, h.Role)
	b = binary.BigEndian.AppendUint32(b, h.Caps)
	b = binary.BigEndian.AppendUint16(b, h.PayloadCap)
	b = append(b, h.Nonce[:]...)
	b = append(b, h.Instance[:]...)
	name := h.Name
	if len(name) > 255 {
		name = name[:255]
	}
	b = append(b, byte(len(name)))
	return append(b, name...)
}

// DecodeHello parses a hello body.
func DecodeHello(b []byte) (Hello, error) {
	var h Hello
	const fixed = 4 + 2 + 1 + 4 + 2 + 32 + 16 + 1
	if len(b) < 6 || [4]byte(b[:4]) != helloMagic {
		return h, errors.New("wire: hello: not a replaygw peer (bad magic)")
	}
	h.Version = binary.BigEndian.Uint16(b[4:])
	if len(b) < fixed {
		return h, fmt.Errorf("wire: hello: %w", errShort)
	}
	h.Role = b[6]
	h.Caps = binary.BigEndian.Uint32(b[7:])
	h.PayloadCap = binary.BigEndian.Uint16(b[11:])
	copy(h.Nonce[:], b[13:45])
	copy(h.Instance[:], b[45:61])
	n := int(b[61])
	if len(b) != fixed+n {
		return h, fmt.Errorf("wire: hello: name length %d does not match %d remaining bytes", n, len(b)-fixed)
	}
	h.Name = string(b[fixed:])
	return h, nil
}

func proof(token []byte, role byte, peerNonce, ownNonce [32]byte) []byte {
	m := hmac.New(sha256.New, token)
	m.Write([]byte("replaygw-auth-v1"))
	m.Write([]byte{role})
	m.Write(peerNonce[:])
	m.Write(ownNonce[:])
	return m.Sum(nil)
}

// ErrAuth means the peer's proof did not match the shared token.
var ErrAuth = errors.New("authentication failed: the peer's token differs from ours")

// NewInstance returns a random copier instance identity.
func NewInstance() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	return id
}

// ErrVersion means the peer speaks another protocol version.
var ErrVersion = errors.New("protocol version mismatch")

// Handshake runs the mutual challenge-response on c and returns the peer's
// hello. Both sides send a hello with a fresh nonce, then an HMAC-SHA256
// proof over both nonces keyed with the shared token; the gateway answers
// with auth-ok. A version mismatch or a wrong proof is reported to the peer
// in an error frame before the connection is given up, so both sides can
// say what went wrong. A gateway running Handshake grants the whole pool;
// see HandshakeShare.
func Handshake(c *Conn, own Hello, token []byte, timeout time.Duration) (Hello, error) {
	peer, _, err := HandshakeShare(c, own, token, timeout, nil)
	return peer, err
}

// HandshakeShare is Handshake that also carries the copier's pool share in
// auth-ok: on the gateway side grant (nil: the whole pool) chooses it after
// the copier's proof checked out; on the copier side it is returned. The
// nonces are fresh per connection, so a recorded exchange replayed on
// another connection fails the proof.
func HandshakeShare(c *Conn, own Hello, token []byte, timeout time.Duration, grant Grant) (Hello, Share, error) {
	if len(token) == 0 {
		return Hello{}, Share{}, errors.New("wire: handshake: empty token")
	}
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
		defer c.SetDeadline(time.Time{})
	}
	c.max = MaxHandshakeFrame
	defer func() { c.max = 0 }()
	own.Version = Version
	if _, err := rand.Read(own.Nonce[:]); err != nil {
		return Hello{}, Share{}, err
	}
	refuse := func(code uint16, err error) (Hello, Share, error) {
		c.WriteFrame(TypeError, AppendError(nil, code, err.Error()))
		c.Flush()
		return Hello{}, Share{}, err
	}
	if err := c.WriteFrame(TypeHello, AppendHello(nil, &own)); err != nil {
		return Hello{}, Share{}, err
	}
	if err := c.Flush(); err != nil {
		return Hello{}, Share{}, err
	}
	t, body, err := c.ReadFrame()
	if err != nil {
		return Hello{}, Share{}, fmt.Errorf("wire: handshake: read hello: %w", err)
	}
	if t == TypeError {
		return Hello{}, Share{}, DecodeError(body)
	}
	if t != TypeHello {
		return refuse(CodeProtocol, fmt.Errorf("wire: handshake: expected hello, got %s", t))
	}
	peer, err := DecodeHello(body)
	if err != nil {
		if peer.Version != 0 && peer.Version != Version {
			return refuse(CodeVersion, fmt.Errorf("%w: peer speaks version %d, we speak %d", ErrVersion, peer.Version, Version))
		}
		return refuse(CodeProtocol, err)
	}
	if peer.Version != Version {
		return refuse(CodeVersion, fmt.Errorf("%w: peer speaks version %d, we speak %d", ErrVersion, peer.Version, Version))
	}
	if peer.Role == own.Role {
		return refuse(CodeProtocol, fmt.Errorf("wire: handshake: peer has our own role %q", own.Role))
	}
	if err := c.WriteFrame(TypeAuth, proof(token, own.Role, peer.Nonce, own.Nonce)); err != nil {
		return Hello{}, Share{}, err
	}
	if err := c.Flush(); err != nil {
		return Hello{}, Share{}, err
	}
	t, body, err = c.ReadFrame()
	if err != nil {
		return Hello{}, Share{}, fmt.Errorf("wire: handshake: read auth: %w", err)
	}
	if t == TypeError {
		return Hello{}, Share{}, DecodeError(body)
	}
	if t != TypeAuth {
		return refuse(CodeProtocol, fmt.Errorf("wire: handshake: expected auth, got %s", t))
	}
	if !hmac.Equal(body, proof(token, peer.Role, own.Nonce, peer.Nonce)) {
		return refuse(CodeAuth, ErrAuth)
	}
	if own.Role == RoleGateway {
		share := Share{Count: 1}
		if grant != nil {
			if share, err = grant(peer); err != nil {
				return refuse(CodeBusy, err)
			}
		}
		if err := c.WriteFrame(TypeAuthOK, AppendShare(nil, share)); err != nil {
			return Hello{}, Share{}, err
		}
		return peer, share, c.Flush()
	}
	t, body, err = c.ReadFrame()
	if err != nil {
		return Hello{}, Share{}, fmt.Errorf("wire: handshake: read auth-ok: %w", err)
	}
	switch t {
	case TypeAuthOK:
		share, err := DecodeShare(body)
		if err != nil {
			return refuse(CodeProtocol, err)
		}
		return peer, share, nil
	case TypeError:
		return Hello{}, Share{}, DecodeError(body)
	}
	return refuse(CodeProtocol, fmt.Errorf("wire: handshake: expected auth-ok, got %s", t))
}
