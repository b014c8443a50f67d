package mysql

import (
	"encoding/binary"
	"fmt"
)

// Capability flags used here.
const (
	capLongPassword     = 0x00000001 // also CLIENT_MYSQL: not a MariaDB extended-capability client
	capConnectWithDB    = 0x00000008
	capCompress         = 0x00000020
	capLocalFiles       = 0x00000080
	capProtocol41       = 0x00000200
	capSSL              = 0x00000800
	capSecureConnection = 0x00008000
	capPluginAuth       = 0x00080000
	capConnectAttrs     = 0x00100000
	capPluginAuthLenenc = 0x00200000
	capDeprecateEOF     = 0x01000000
	capZstd             = 0x04000000
	capOptionalMetadata = 0x02000000 // CLIENT_OPTIONAL_RESULTSET_METADATA
	capQueryAttributes  = 0x08000000 // CLIENT_QUERY_ATTRIBUTES: changes COM_QUERY's encoding

	// MariaDB extended capability (in the login's filler bytes 19..22):
	// the server may leave out result-set metadata the client cached.
	extCacheMetadata = 0x10
)

// Server status flags used here.
const (
	statusMoreResults  = 0x0008
	statusCursorExists = 0x0040
)

// Greeting is a server's HandshakeV10.
type Greeting struct {
	Version      string
	ConnectionID uint32
	Scramble     []byte // auth-plugin-data parts 1 and 2, without the trailing NUL
	Capabilities uint32
	ExtCaps      uint32 // MariaDB extended capabilities (when CLIENT_MYSQL is clear)
	Charset      byte
	Status       uint16
	Plugin       string
}

// ParseGreeting parses a HandshakeV10 payload.
func ParseGreeting(p []byte) (*Greeting, error) {
	if len(p) == 0 {
		return nil, fatef(FateProtocol, "greeting: empty")
	}
	if p[0] == 0xFF {
		return nil, fatef(FateProtocol, "greeting: server error %q", errMessage(p))
	}
	if p[0] != 10 {
		return nil, fatef(FateOldProtocol, "greeting: protocol version %d", p[0])
	}
	ver, rest, ok := readNul(p[1:])
	if !ok || len(rest) < 4+8+1+2 {
		return nil, fatef(FateProtocol, "greeting: truncated after version")
	}
	g := &Greeting{Version: string(ver), ConnectionID: binary.LittleEndian.Uint32(rest)}
	g.Scramble = append(g.Scramble, rest[4:12]...)
	g.Capabilities = uint32(binary.LittleEndian.Uint16(rest[13:]))
	rest = rest[15:]
	if len(rest) == 0 {
		return g, nil
	}
	if len(rest) < 1+2+2+1+10 {
		return nil, fatef(FateProtocol, "greeting: truncated after capabilities")
	}
	g.Charset = rest[0]
	g.Status = binary.LittleEndian.Uint16(rest[1:])
	g.Capabilities |= uint32(binary.LittleEndian.Uint16(rest[3:])) << 16
	authLen := int(rest[5])
	if g.Capabilities&capLongPassword == 0 {
		g.ExtCaps = binary.LittleEndian.Uint32(rest[12:])
	}
	rest = rest[16:]
	if g.Capabilities&capSecureConnection != 0 {
		n := max(13, authLen-8)
		if len(rest) < n {
			n = len(rest)
		}
		part2 := rest[:n]
		rest = rest[n:]
		if len(part2) > 0 && part2[len(part2)-1] == 0 {
			part2 = part2[:len(part2)-1]
		}
		g.Scramble = append(g.Scramble, part2...)
	}
	if g.Capabilities&capPluginAuth != 0 {
		name, _, ok := readNul(rest)
		if !ok {
			name = rest // some servers omit the final NUL
		}
		g.Plugin = string(name)
	}
	return g, nil
}

// Login is a client's HandshakeResponse41 (or the fields of a
// COM_CHANGE_USER), with the auth response left out of the identity.
type Login struct {
	Capabilities uint32
	MaxPacket    uint32
	Charset      byte
	Filler       [23]byte // MariaDB puts extended capabilities in its last 4 bytes
	User         string
	AuthResponse []byte
	Database     string
	Plugin       string
	Attrs        []byte // connect attributes, verbatim with their lenenc length
}

// extCaps are a MariaDB client's extended capabilities (filler bytes
// 19..22, when CLIENT_MYSQL is clear), 0 for a MySQL client.
func (l *Login) extCaps() uint32 {
	if l.Capabilities&capLongPassword != 0 {
		return 0
	}
	return binary.LittleEndian.Uint32(l.Filler[19:])
}

// isSSLRequest reports whether a client's first packet is an SSLRequest.
func isSSLRequest(p []byte) bool {
	return len(p) == 32 && binary.LittleEndian.Uint32(p)&capSSL != 0
}

// ParseLogin parses a HandshakeResponse41 payload.
func ParseLogin(p []byte) (*Login, error) {
	if len(p) < 4 {
		return nil, fatef(FateProtocol, "handshake response: %d bytes", len(p))
	}
	caps := binary.LittleEndian.Uint32(p)
	if caps&capProtocol41 == 0 {
		return nil, fatef(FateOldProtocol, "handshake response without CLIENT_PROTOCOL_41")
	}
	if caps&capSSL != 0 {
		return nil, fatef(FateTLS, "client requested TLS")
	}
	if len(p) < 32 {
		return nil, fatef(FateProtocol, "handshake response: %d bytes", len(p))
	}
	l := &Login{Capabilities: caps, MaxPacket: binary.LittleEndian.Uint32(p[4:]), Charset: p[8]}
	copy(l.Filler[:], p[9:32])
	user, rest, ok := readNul(p[32:])
	if !ok {
		return nil, fatef(FateProtocol, "handshake response: user not terminated")
	}
	l.User = string(user)
	auth, rest, err := readAuth(caps, rest)
	if err != nil {
		return nil, err
	}
	l.AuthResponse = auth
	if err := l.readTail(rest); err != nil {
		return nil, err
	}
	return l, nil
}

// readAuth reads the auth response in its capability-dependent encoding.
func readAuth(caps uint32, b []byte) (auth, rest []byte, err error) {
	switch {
	case caps&capPluginAuthLenenc != 0:
		n, used, ok := readLenenc(b)
		if !ok || uint64(len(b)-used) < n {
			return nil, nil, fatef(FateProtocol, "auth response: bad length")
		}
		return b[used : used+int(n)], b[used+int(n):], nil
	case caps&capSecureConnection != 0:
		if len(b) < 1 || len(b)-1 < int(b[0]) {
			return nil, nil, fatef(FateProtocol, "auth response: bad length")
		}
		return b[1 : 1+int(b[0])], b[1+int(b[0]):], nil
	}
	a, r, ok := readNul(b)
	if !ok {
		a, r = b, nil
	}
	return a, r, nil
}

// readTail reads database, plugin and attributes.
func (l *Login) readTail(rest []byte) error {
	var ok bool
	var s []byte
	if l.Capabilities&capConnectWithDB != 0 && len(rest) > 0 {
		if s, rest, ok = readNul(rest); !ok {
			return fatef(FateProtocol, "database not terminated")
		}
		l.Database = string(s)
	}
	if l.Capabilities&capPluginAuth != 0 && len(rest) > 0 {
		if s, rest, ok = readNul(rest); !ok {
			s, rest = rest, nil
		}
		l.Plugin = string(s)
	}
	if l.Capabilities&capConnectAttrs != 0 && len(rest) > 0 {
		n, used, ok := readLenenc(rest)
		if !ok || uint64(len(rest)-used) < n {
			return fatef(FateProtocol, "connect attributes: bad length")
		}
		l.Attrs = append([]byte(nil), rest[:used+int(n)]...)
	}
	return nil
}

// plugin is the plugin the client used for its auth response.
func (l *Login) plugin() string {
	if l.Capabilities&capPluginAuth == 0 || l.Plugin == "" {
		return pluginNative
	}
	return l.Plugin
}

// AppendLogin appends the HandshakeResponse41 payload of l.
func (l *Login) AppendLogin(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint32(b, l.Capabilities)
	b = binary.LittleEndian.AppendUint32(b, l.MaxPacket)
	b = append(b, l.Charset)
	b = append(b, l.Filler[:]...)
	b = append(b, l.User...)
	b = append(b, 0)
	b, err := appendAuth(b, l.Capabilities, l.AuthResponse)
	if err != nil {
		return nil, err
	}
	return l.appendTail(b), nil
}

func appendAuth(b []byte, caps uint32, auth []byte) ([]byte, error) {
	switch {
	case caps&capPluginAuthLenenc != 0:
		b = appendLenenc(b, uint64(len(auth)))
	case caps&capSecureConnection != 0:
		if len(auth) > 255 {
			return nil, fatef(FateProtocol, "auth response of %d bytes needs CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA", len(auth))
		}
		b = append(b, byte(len(auth)))
	default:
		for _, c := range auth {
			if c == 0 {
				return nil, fatef(FateProtocol, "auth response with NUL needs CLIENT_SECURE_CONNECTION")
			}
		}
		return append(append(b, auth...), 0), nil
	}
	return append(b, auth...), nil
}

func (l *Login) appendTail(b []byte) []byte {
	if l.Capabilities&capConnectWithDB != 0 {
		b = append(append(b, l.Database...), 0)
	}
	if l.Capabilities&capPluginAuth != 0 {
		b = append(append(b, l.Plugin...), 0)
	}
	if l.Capabilities&capConnectAttrs != 0 {
		if len(l.Attrs) == 0 {
			b = append(b, 0)
		}
		b = append(b, l.Attrs...)
	}
	return b
}

// ChangeUser is a COM_CHANGE_USER payload.
type ChangeUser struct {
	User         string
	AuthResponse []byte
	Database     string
	Charset      uint16
	HasCharset   bool
	Plugin       string
	Attrs        []byte
}

// ParseChangeUser parses a COM_CHANGE_USER payload (command byte included)
// under the session's capabilities.
func ParseChangeUser(caps uint32, p []byte) (*ChangeUser, error) {
	if len(p) < 2 || p[0] != comChangeUser {
		return nil, fatef(FateProtocol, "COM_CHANGE_USER: malformed")
	}
	user, rest, ok := readNul(p[1:])
	if !ok {
		return nil, fatef(FateProtocol, "COM_CHANGE_USER: user not terminated")
	}
	c := &ChangeUser{User: string(user)}
	var auth []byte
	if caps&capSecureConnection != 0 {
		if len(rest) < 1 || len(rest)-1 < int(rest[0]) {
			return nil, fatef(FateProtocol, "COM_CHANGE_USER: bad auth length")
		}
		auth, rest = rest[1:1+int(rest[0])], rest[1+int(rest[0]):]
	} else if auth, rest, ok = readNul(rest); !ok {
		return nil, fatef(FateProtocol, "COM_CHANGE_USER: auth not terminated")
	}
	c.AuthResponse = auth
	db, rest, ok := readNul(rest)
	if !ok {
		db, rest = rest, nil
	}
	c.Database = string(db)
	if len(rest) >= 2 {
		c.Charset, c.HasCharset = binary.LittleEndian.Uint16(rest), true
		rest = rest[2:]
	}
	if caps&capPluginAuth != 0 && len(rest) > 0 {
		s, r, ok := readNul(rest)
		if !ok {
			s, r = rest, nil
		}
		c.Plugin, rest = string(s), r
	}
	if caps&capConnectAttrs != 0 && len(rest) > 0 {
		c.Attrs = append([]byte(nil), rest...)
	}
	return c, nil
}

// AppendChangeUser appends the COM_CHANGE_USER payload of c.
func (c *ChangeUser) AppendChangeUser(b []byte, caps uint32) ([]byte, error) {
	b = append(b, comChangeUser)
	b = append(append(b, c.User...), 0)
	if caps&capSecureConnection != 0 {
		if len(c.AuthResponse) > 255 {
			return nil, fatef(FateProtocol, "COM_CHANGE_USER: auth response of %d bytes", len(c.AuthResponse))
		}
		b = append(b, byte(len(c.AuthResponse)))
		b = append(b, c.AuthResponse...)
	} else {
		b = append(append(b, c.AuthResponse...), 0)
	}
	b = append(append(b, c.Database...), 0)
	if c.HasCharset {
		b = binary.LittleEndian.AppendUint16(b, c.Charset)
		if caps&capPluginAuth != 0 {
			b = append(append(b, c.Plugin...), 0)
		}
		b = append(b, c.Attrs...)
	}
	return b, nil
}

// errMessage is the message of an ERR payload, for fates.
func errMessage(p []byte) string {
	if len(p) < 3 {
		return ""
	}
	code := binary.LittleEndian.Uint16(p[1:])
	m := p[3:]
	if len(m) > 6 && m[0] == '#' {
		m = m[6:]
	}
	if len(m) > 200 {
		m = m[:200]
	}
	return fmt.Sprintf("%d %s", code, m)
}
