package wire

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestHelloRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Hello
		want string
	}{
		{"copier", Hello{Version: 2, Role: RoleCopier, Caps: CapPayload | CapIPv6, PayloadCap: 512, Instance: [16]byte{9, 15: 7}, Name: "copier@a"}, "copier@a"},
		{"no name", Hello{Version: 7, Role: RoleGateway}, ""},
		{"long name cut", Hello{Version: 1, Role: RoleGateway, Name: strings.Repeat("n", 300)}, strings.Repeat("n", 255)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.h.Nonce[0], tc.h.Nonce[31] = 1, 2
			got, err := DecodeHello(AppendHello(nil, &tc.h))
			if err != nil {
				t.Fatal(err)
			}
			tc.h.Name = tc.want
			if got != tc.h {
				t.Fatalf("got %+v, want %+v", got, tc.h)
			}
		})
	}
}

func TestHelloDecodeErrors(t *testing.T) {
	good := AppendHello(nil, &Hello{Version: 3, Role: RoleCopier, Name: "x"})
	for _, tc := range []struct {
		name    string
		in      []byte
		want    string
		version uint16
	}{
		{"http client", []byte("GET / HTTP/1.1\r\n"), "bad magic", 0},
		{"short with version", good[:10], "truncated", 3},
		{"name longer", good[:len(good)-1], "name length", 3},
		{"name shorter", append(good, 'y'), "name length", 3},
	} {
		h, err := DecodeHello(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || h.Version != tc.version {
			t.Errorf("%s: %v (version %d), want %q (version %d)", tc.name, err, h.Version, tc.want, tc.version)
		}
	}
}

// tcpPair returns both ends of a loopback TCP connection as wire Conns.
func tcpPair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return NewConn(a), NewConn(b)
}

type hsResult struct {
	peer Hello
	err  error
}

func handshakeBoth(t *testing.T, copierTok, gatewayTok string) (copier, gateway hsResult) {
	cc, gc := tcpPair(t)
	ch := make(chan hsResult, 1)
	go func() {
		p, err := Handshake(gc, Hello{Role: RoleGateway, PayloadCap: 64, Name: "gw"}, []byte(gatewayTok), 5*time.Second)
		ch <- hsResult{p, err}
	}()
	p, err := Handshake(cc, Hello{Role: RoleCopier, Caps: CapPayload, PayloadCap: 128, Name: "cp"}, []byte(copierTok), 5*time.Second)
	return hsResult{p, err}, <-ch
}

func TestHandshakeOK(t *testing.T) {
	c, g := handshakeBoth(t, "s3cret", "s3cret")
	if c.err != nil || g.err != nil {
		t.Fatalf("copier %v, gateway %v", c.err, g.err)
	}
	if c.peer.Role != RoleGateway || c.peer.Name != "gw" || c.peer.PayloadCap != 64 || c.peer.Version != Version {
		t.Fatalf("copier saw %+v", c.peer)
	}
	if g.peer.Role != RoleCopier || g.peer.Name != "cp" || g.peer.PayloadCap != 128 || g.peer.Caps != CapPayload {
		t.Fatalf("gateway saw %+v", g.peer)
	}
	if c.peer.Nonce == g.peer.Nonce || c.peer.Nonce == ([32]byte{}) {
		t.Fatal("nonces are not fresh")
	}
}

func TestHandshakeWrongToken(t *testing.T) {
	c, g := handshakeBoth(t, "copier-token", "gateway-token")
	if !errors.Is(g.err, ErrAuth) {
		t.Fatalf("gateway: %v, want ErrAuth", g.err)
	}
	var pe *PeerError
	if !errors.Is(c.err, ErrAuth) && !(errors.As(c.err, &pe) && pe.Code == CodeAuth) {
		t.Fatalf("copier: %v, want ErrAuth or a peer auth error", c.err)
	}
	if !strings.Contains(c.err.Error(), "token") {
		t.Fatalf("copier error does not say what is wrong: %v", c.err)
	}
}

func TestHandshakeEmptyToken(t *testing.T) {
	cc, _ := tcpPair(t)
	if _, err := Handshake(cc, Hello{Role: RoleCopier}, nil, time.Second); err == nil || !strings.Contains(err.Error(), "empty token") {
		t.Fatalf("%v", err)
	}
}

// fakePeer answers the first frame of a Handshake with the given frame and
// returns the next frame it receives.
func fakePeer(t *testing.T, c *Conn, typ Type, body []byte) <-chan hsFrame {
	ch := make(chan hsFrame, 1)
	go func() {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadFrame(); err != nil {
			ch <- hsFrame{err: err}
			return
		}
		c.WriteFrame(typ, body)
		c.Flush()
		t, b, err := c.ReadFrame()
		ch <- hsFrame{t, append([]byte(nil), b...), err}
	}()
	return ch
}

type hsFrame struct {
	typ  Type
	body []byte
	err  error
}

func TestHandshakeVersionMismatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hello []byte
	}{
		{"full hello", AppendHello(nil, &Hello{Version: Version + 1, Role: RoleCopier})},
		{"future hello layout", AppendHello(nil, &Hello{Version: Version + 1, Role: RoleCopier})[:8]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gc, pc := tcpPair(t)
			got := fakePeer(t, pc, TypeHello, tc.hello)
			_, err := Handshake(gc, Hello{Role: RoleGateway}, []byte("tok"), 5*time.Second)
			if want := fmt.Sprintf("version %d", Version+1); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), want) {
				t.Fatalf("gateway: %v, want ErrVersion naming %s", err, want)
			}
			f := <-got
			if f.err != nil || f.typ != TypeError {
				t.Fatalf("peer got %s %v, want an error frame", f.typ, f.err)
			}
			if pe := DecodeError(f.body); pe.Code != CodeVersion || !strings.Contains(pe.Msg, "version mismatch") {
				t.Fatalf("peer got %+v", pe)
			}
		})
	}
}

func TestHandshakePeerRefuses(t *testing.T) {
	cc, pc := tcpPair(t)
	fakePeer(t, pc, TypeError, AppendError(nil, CodeVersion, "protocol version mismatch: peer speaks version 1, we speak 2"))
	_, err := Handshake(cc, Hello{Role: RoleCopier}, []byte("tok"), 5*time.Second)
	var pe *PeerError
	if !errors.As(err, &pe) || pe.Code != CodeVersion || !strings.Contains(err.Error(), "version mismatch") {
		t.Fatalf("%v, want a *PeerError with CodeVersion", err)
	}
}

func TestHandshakeProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  Type
		body []byte
		want string
	}{
		{"same role", TypeHello, AppendHello(nil, &Hello{Version: Version, Role: RoleCopier}), "own role"},
		{"not a hello", TypeRecords, []byte{0, 0}, "expected hello"},
		{"garbage hello", TypeHello, []byte("GET / HTTP/1.1"), "bad magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, pc := tcpPair(t)
			got := fakePeer(t, pc, tc.typ, tc.body)
			_, err := Handshake(cc, Hello{Role: RoleCopier}, []byte("tok"), 5*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			if f := <-got; f.typ != TypeError || DecodeError(f.body).Code != CodeProtocol {
				t.Fatalf("peer got %s %+v", f.typ, DecodeError(f.body))
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	cc, _ := tcpPair(t) // the peer never answers
	start := time.Now()
	_, err := Handshake(cc, Hello{Role: RoleCopier}, []byte("tok"), 200*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// A version 1 copier (before pool shares) is refused with an error that
// names both versions, on both sides.
func TestHandshakeVersion1PeerRefused(t *testing.T) {
	gc, pc := tcpPair(t)
	v2 := AppendHello(nil, &Hello{Version: 1, Role: RoleCopier, Name: "old"})
	v1 := append(v2[:45:45], v2[61:]...) // the version 1 layout had no instance
	got := fakePeer(t, pc, TypeHello, v1)
	_, _, err := HandshakeShare(gc, Hello{Role: RoleGateway}, []byte("tok"), 5*time.Second, nil)
	want := fmt.Sprintf("peer speaks version 1, we speak %d", Version)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), want) {
		t.Fatalf("gateway: %v, want ErrVersion with %q", err, want)
	}
	if f := <-got; f.typ != TypeError || DecodeError(f.body).Code != CodeVersion || !strings.Contains(DecodeError(f.body).Msg, want) {
		t.Fatalf("old peer got %s %+v", f.typ, DecodeError(f.body))
	}
}

func TestHandshakeShare(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grant    Grant
		want     Share
		wantBusy bool
	}{
		{"no grant: whole pool", nil, Share{Index: 0, Count: 1}, false},
		{"granted", func(h Hello) (Share, error) {
			if h.Name != "cp" {
				return Share{}, fmt.Errorf("grant saw %q", h.Name)
			}
			return Share{Index: 2, Count: 3}, nil
		}, Share{Index: 2, Count: 3}, false},
		{"busy", func(Hello) (Share, error) { return Share{}, errors.New("all 4 pool shares are taken") }, Share{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, gc := tcpPair(t)
			ch := make(chan error, 1)
			go func() {
				_, _, err := HandshakeShare(gc, Hello{Role: RoleGateway, Name: "gw"}, []byte("tok"), 5*time.Second, tc.grant)
				ch <- err
			}()
			_, got, err := HandshakeShare(cc, Hello{Role: RoleCopier, Name: "cp"}, []byte("tok"), 5*time.Second, nil)
			gerr := <-ch
			if tc.wantBusy {
				var pe *PeerError
				if !errors.As(err, &pe) || pe.Code != CodeBusy || !strings.Contains(pe.Msg, "shares are taken") || gerr == nil {
					t.Fatalf("copier %v, gateway %v; want a busy refusal on both", err, gerr)
				}
				return
			}
			if err != nil || gerr != nil || got != tc.want {
				t.Fatalf("copier %v share %+v, gateway %v; want %+v", err, got, gerr, tc.want)
			}
		})
	}
}

func TestDecodeShare(t *testing.T) {
	for _, tc := range []struct {
		body []byte
		want Share
		err  string
	}{
		{AppendShare(nil, Share{Index: 1, Count: 4}), Share{Index: 1, Count: 4}, ""},
		{AppendShare(nil, Share{}), Share{}, ""},
		{nil, Share{}, "0 bytes, want 4"},
		{AppendShare(nil, Share{Index: 4, Count: 4}), Share{}, "index 4 outside count 4"},
	} {
		got, err := DecodeShare(tc.body)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("% x: %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("% x: %+v %v, want %+v", tc.body, got, err, tc.want)
		}
	}
}

// Before authentication a frame longer than MaxHandshakeFrame is refused
// from its length prefix alone (nothing of that size is allocated); after
// the handshake the limit is MaxFrame again.
func TestHandshakeFrameLimit(t *testing.T) {
	gc, pc := tcpPair(t)
	go func() {
		pc.SetDeadline(time.Now().Add(5 * time.Second))
		pc.ReadFrame()
		pc.c.Write([]byte{0x00, 0x10, 0x00, 0x00, byte(TypeHello)}) // 1 MiB
	}()
	_, _, err := HandshakeShare(gc, Hello{Role: RoleGateway}, []byte("tok"), 5*time.Second, nil)
	if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("limit %d", MaxHandshakeFrame)) {
		t.Fatalf("%v, want ErrFrameTooLarge at the handshake limit", err)
	}
	if gc.c.Close(); gc.max != 0 {
		t.Fatalf("the handshake limit %d stayed after the handshake", gc.max)
	}
}
