package mysql

import (
	"bytes"
	"testing"
)

func TestParseGreetingVariants(t *testing.T) {
	scr := []byte("abcdefghijklmnopqrst")
	g, err := ParseGreeting(pktPayload(greeting(scr, pluginSHA2, false)))
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != "8.0.36" || g.ConnectionID != 42 || !bytes.Equal(g.Scramble, scr) || g.Plugin != pluginSHA2 ||
		g.Capabilities&capPluginAuth == 0 || g.ExtCaps != 0 || g.Charset != 45 || g.Status != 2 {
		t.Fatalf("%+v", g)
	}
	for _, tt := range []struct {
		name string
		p    []byte
		code string
	}{
		{"empty", nil, FateProtocol},
		{"error", []byte{0xFF, 0x10, 0x04, 'T', 'o', 'o'}, FateProtocol},
		{"v9", []byte{9, 'x', 0}, FateOldProtocol},
		{"truncated", []byte{10, '8', 0, 1, 2}, FateProtocol},
	} {
		if _, err := ParseGreeting(tt.p); err == nil || err.(*Fate).Code != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
}

// Every auth-response encoding round-trips, and a response that grows past
// 250 bytes (an ed25519 signature does not, an RSA blob does) needs lenenc.
func TestLoginEncodings(t *testing.T) {
	base := uint32(capProtocol41 | capPluginAuth | capConnectWithDB)
	for _, tt := range []struct {
		name string
		caps uint32
		auth []byte
	}{
		{"lenenc", base | capPluginAuthLenenc | capSecureConnection, bytes.Repeat([]byte{7}, 300)},
		{"secure", base | capSecureConnection, []byte{0, 1, 2, 0}},
		{"nul-terminated", base, []byte("abc")},
	} {
		l := &Login{Capabilities: tt.caps, User: "u", AuthResponse: tt.auth, Database: "d", Plugin: "p"}
		b, err := l.AppendLogin(nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := ParseLogin(b)
		if err != nil || !bytes.Equal(got.AuthResponse, tt.auth) || got.Database != "d" || got.Plugin != "p" || got.User != "u" {
			t.Fatalf("%s: %+v %v", tt.name, got, err)
		}
	}
	l := &Login{Capabilities: base | capSecureConnection, AuthResponse: make([]byte, 256)}
	if _, err := l.AppendLogin(nil); err == nil {
		t.Error("256-byte auth response encoded in one length byte")
	}
	l = &Login{Capabilities: base, AuthResponse: []byte{1, 0}}
	if _, err := l.AppendLogin(nil); err == nil {
		t.Error("NUL inside a NUL-terminated auth response")
	}
	// MariaDB extended capabilities in the filler survive the rebuild.
	l = &Login{Capabilities: base | capSecureConnection}
	copy(l.Filler[19:], le32(0x1D))
	b, _ := l.AppendLogin(nil)
	if got, _ := ParseLogin(b); got.Filler != l.Filler {
		t.Error("filler (MariaDB extended capabilities) changed")
	}
	for _, bad := range [][]byte{{1}, le32(base), append(le32(base|capSecureConnection), make([]byte, 28)...)} {
		if _, err := ParseLogin(bad); err == nil {
			t.Errorf("%v parsed", bad)
		}
	}
}

func TestLenenc(t *testing.T) {
	for _, v := range []uint64{0, 250, 251, 65535, 65536, 1<<24 - 1, 1 << 24, 1<<64 - 1} {
		b := appendLenenc(nil, v)
		got, n, ok := readLenenc(b)
		if !ok || got != v || n != len(b) {
			t.Errorf("%d: %d %d %v", v, got, n, ok)
		}
		if _, _, ok := readLenenc(b[:len(b)-1]); ok && len(b) > 1 {
			t.Errorf("%d: truncated read ok", v)
		}
	}
	if _, _, ok := readLenenc([]byte{0xFB}); ok {
		t.Error("NULL read as an integer")
	}
}
