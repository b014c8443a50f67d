package mysql

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// Packet builders shaped like what MySQL 8 and MariaDB 10.x send.

func pkt(seq byte, payload ...[]byte) []byte {
	return appendPacket(nil, seq, bytes.Join(payload, nil))
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

const clientCaps = capLongPassword | capConnectWithDB | capProtocol41 | capSecureConnection |
	capPluginAuth | capConnectAttrs | capPluginAuthLenenc | capDeprecateEOF | 0x2000 | 0x20000

// greeting builds a HandshakeV10; mariadb clears CLIENT_MYSQL and puts
// extended capabilities in the reserved bytes.
func greeting(scramble []byte, plugin string, mariadb bool) []byte {
	caps := uint32(0xFFFFFFFF &^ (capSSL | capCompress | capZstd))
	reserved := make([]byte, 10)
	ver := "8.0.36"
	if mariadb {
		caps &^= capLongPassword
		copy(reserved[6:], le32(0x1D))
		ver = "5.5.5-10.11.6-MariaDB"
	}
	return pkt(0, []byte{10}, []byte(ver), []byte{0}, le32(42), scramble[:8], []byte{0},
		le16(uint16(caps)), []byte{45}, le16(2), le16(uint16(caps>>16)), []byte{byte(len(scramble) + 1)},
		reserved, scramble[8:], []byte{0}, []byte(plugin), []byte{0})
}

func loginPayload(caps uint32, user string, auth []byte, db, plugin string) []byte {
	l := &Login{Capabilities: caps, MaxPacket: 1 << 24, Charset: 255, User: user, AuthResponse: auth,
		Database: db, Plugin: plugin, Attrs: []byte{6, 3, 'a', 'b', 'c', 1, 'x'}}
	b, err := l.AppendLogin(nil)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	okPkt      = []byte{0, 0, 0, 2, 0, 0, 0}
	onlineScr  = []byte("onlineSCRAMBLE123456")
	targetScr  = []byte("TARGETscramble987654")
	testPasswd = map[string]string{"app": "s3cret", "other": "pw2"}
)

func newTestSession(t *testing.T) *Session {
	t.Helper()
	u, err := NewUsers(testPasswd)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Users: u, ClientAddr: "10.0.0.1:5000"})
}

// feed drives a session; it returns the bytes to the target and the marks.
type driver struct {
	t   *testing.T
	s   *Session
	out []byte
	m   Mark
}

func (d *driver) client(b []byte) *driver {
	var m Mark
	d.out, m = d.s.Client(d.out, b, 0)
	d.m |= m
	return d
}

func (d *driver) target(b []byte) *driver {
	var m Mark
	d.out, m = d.s.Target(d.out, b, 0)
	d.m |= m
	return d
}

func (d *driver) online(b []byte) *driver {
	var m Mark
	d.out, m = d.s.Online(d.out, b, 0)
	d.m |= m
	return d
}

// take returns and clears what was sent and marked.
func (d *driver) take() ([]byte, Mark) {
	d.t.Helper()
	if f := d.s.Fate(); f != nil {
		d.t.Fatalf("unexpected fate %v", f)
	}
	o, m := d.out, d.m
	d.out, d.m = nil, 0
	return o, m
}

// packets splits a stream into packets.
func packets(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var f framer
	f.push(b)
	var r [][]byte
	for {
		raw, ok := f.peek()
		if !ok {
			break
		}
		f.next(raw)
		r = append(r, raw)
	}
	if f.held() != 0 {
		t.Fatalf("%d trailing bytes", f.held())
	}
	return r
}

// loggedIn runs a native-password login: online and target greet, the
// client logs in, target and online say OK.
func loggedIn(t *testing.T) *driver { return loggedInAs(t, newTestSession(t)) }

// loggedInAs is loggedIn on the session s.
func loggedInAs(t *testing.T, s *Session) *driver {
	d := &driver{t: t, s: s}
	d.online(greeting(onlineScr, pluginNative, false))
	d.target(greeting(targetScr, pluginNative, false))
	d.client(pkt(1, loginPayload(clientCaps, "app", nativePassword(onlineScr, "s3cret"), "shop", pluginNative)))
	out, m := d.take()
	ps := packets(t, out)
	if len(ps) != 1 || pktSeq(ps[0]) != 1 || m != RequestStart {
		t.Fatalf("login: %d packets, mark %v", len(ps), m)
	}
	l, err := ParseLogin(pktPayload(ps[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l.AuthResponse, nativePassword(targetScr, "s3cret")) || l.User != "app" ||
		l.Database != "shop" || l.Plugin != pluginNative || l.Charset != 255 ||
		!bytes.Equal(l.Attrs, []byte{6, 3, 'a', 'b', 'c', 1, 'x'}) {
		t.Fatalf("rebuilt login %+v", l)
	}
	d.online(pkt(2, okPkt))
	d.target(pkt(2, okPkt))
	if out, m := d.take(); len(out) != 0 || m != ResponseComplete {
		t.Fatalf("after OK: %d bytes, mark %v", len(out), m)
	}
	var x Exchange
	if !d.s.Exchange(&x) || x.Kind != "login" || !x.Same {
		t.Fatalf("login exchange %+v", x)
	}
	return d
}

func TestLoginNative(t *testing.T) { loggedIn(t) }

// The login waits for the target's greeting when the client's arrives
// first, and is released by Target.
func TestLoginBeforeTargetGreeting(t *testing.T) {
	d := &driver{t: t, s: newTestSession(t)}
	d.online(greeting(onlineScr, pluginNative, false))
	d.client(pkt(1, loginPayload(clientCaps, "app", nativePassword(onlineScr, "s3cret"), "", pluginNative)))
	if out, _ := d.take(); len(out) != 0 {
		t.Fatal("login sent before the target's scramble is known")
	}
	d.target(greeting(targetScr, pluginNative, false))
	out, m := d.take()
	ps := packets(t, out)
	if len(ps) != 1 || m != RequestStart {
		t.Fatalf("%d packets, mark %v", len(ps), m)
	}
	l, _ := ParseLogin(pktPayload(ps[0]))
	if !bytes.Equal(l.AuthResponse, nativePassword(targetScr, "s3cret")) {
		t.Fatal("not re-signed")
	}
}

// caching_sha2_password: fast path fails on the target (cold cache), full
// auth over RSA; the client's own full-auth packets to the online server
// are dropped; the inserted exchange is invisible to pacing.
func TestLoginCachingSHA2FullAuth(t *testing.T) {
	key, pemKey := testRSAKey(t)
	d := &driver{t: t, s: newTestSession(t)}
	d.online(greeting(onlineScr, pluginSHA2, false))
	d.target(greeting(targetScr, pluginSHA2, false))
	d.client(pkt(1, loginPayload(clientCaps, "app", sha2Password(onlineScr, "s3cret"), "", pluginSHA2)))
	out, _ := d.take()
	l, _ := ParseLogin(pktPayload(packets(t, out)[0]))
	if !bytes.Equal(l.AuthResponse, sha2Password(targetScr, "s3cret")) || !verifySHA2(l.AuthResponse, targetScr, "s3cret") {
		t.Fatal("fast-path response not re-signed")
	}
	// The online server had it cached; the client says nothing more. The
	// target asks for full auth.
	d.online(pkt(2, []byte{1, 3}))
	d.target(pkt(2, []byte{1, 4}))
	out, m := d.take()
	if !bytes.Equal(out, pkt(3, []byte{2})) || m != 0 {
		t.Fatalf("public key request %v, mark %v", out, m)
	}
	d.target(pkt(4, []byte{1}, pemKey))
	out, m = d.take()
	ps := packets(t, out)
	if len(ps) != 1 || pktSeq(ps[0]) != 5 || m != 0 {
		t.Fatalf("encrypted password: %d packets, mark %v", len(ps), m)
	}
	if pw := decryptFullAuth(t, key, pktPayload(ps[0]), targetScr); pw != "s3cret" {
		t.Fatalf("target would read password %q", pw)
	}
	// A client packet continuing the online auth (seq 3) is not the target's business.
	d.client(pkt(3, []byte{2}))
	d.online(pkt(3, okPkt))
	if out, _ := d.take(); len(out) != 0 {
		t.Fatal("client auth continuation forwarded")
	}
	// A query before the target's OK waits for it.
	q := pkt(0, []byte{comQuery}, []byte("SELECT 1"))
	d.client(q)
	if out, _ := d.take(); len(out) != 0 {
		t.Fatal("query sent before the target's login completed")
	}
	d.target(pkt(6, okPkt))
	out, m = d.take()
	if !bytes.Equal(out, q) || m != RequestStart|ResponseComplete {
		t.Fatalf("after OK: %v, mark %v", out, m)
	}
}

// MariaDB: the target switches to client_ed25519; the online server did
// not, so the Session inserts the switch response.
// The nonce is 32 random bytes with no terminator, so one that ends in a
// zero byte is signed whole.
func TestAuthSwitchEd25519MariaDB(t *testing.T) {
	for _, edScr := range [][]byte{
		[]byte("0123456789abcdef0123456789abcdef"),
		append([]byte("0123456789abcdef0123456789abcde"), 0),
		append([]byte{0}, []byte("123456789abcdef0123456789abcd\x00\x00")...),
	} {
		testAuthSwitchEd25519(t, edScr)
	}
}

func testAuthSwitchEd25519(t *testing.T, edScr []byte) {
	d := &driver{t: t, s: newTestSession(t)}
	d.online(greeting(onlineScr, pluginNative, true))
	d.target(greeting(targetScr, pluginNative, true))
	g, err := ParseGreeting(pktPayload(greeting(targetScr, pluginNative, true)))
	if err != nil || g.ExtCaps != 0x1D || !bytes.Equal(g.Scramble, targetScr) || g.Plugin != pluginNative {
		t.Fatalf("MariaDB greeting %+v %v", g, err)
	}
	d.client(pkt(1, loginPayload(clientCaps&^capLongPassword, "app", nativePassword(onlineScr, "s3cret"), "", pluginNative)))
	d.take()
	d.target(pkt(2, []byte{0xFE}, []byte(pluginEd25519), []byte{0}, edScr))
	out, _ := d.take()
	ps := packets(t, out)
	if len(ps) != 1 || pktSeq(ps[0]) != 3 {
		t.Fatalf("switch response: %d packets", len(ps))
	}
	if sig := pktPayload(ps[0]); !ed25519Verify(ed25519PublicKey("s3cret"), edScr, sig) {
		t.Fatal("ed25519 signature does not verify")
	}
	d.online(pkt(2, okPkt))
	d.target(pkt(4, okPkt))
	if _, m := d.take(); m != ResponseComplete {
		t.Fatalf("mark %v", m)
	}
}

// The online server asked for a switch too: the client's own switch
// response (seq 3) is dropped and the Session answers the target's.
func TestAuthSwitchBothSides(t *testing.T) {
	d := &driver{t: t, s: newTestSession(t)}
	d.online(greeting(onlineScr, pluginSHA2, false))
	d.target(greeting(targetScr, pluginSHA2, false))
	d.client(pkt(1, loginPayload(clientCaps, "app", sha2Password(onlineScr, "s3cret"), "", pluginSHA2)))
	d.take()
	onl2, tgt2 := []byte("ONLINEswitch12345678"), []byte("TARGETswitch87654321")
	d.online(pkt(2, []byte{0xFE}, []byte(pluginNative), []byte{0}, onl2, []byte{0}))
	d.client(pkt(3, nativePassword(onl2, "s3cret")))
	d.target(pkt(2, []byte{0xFE}, []byte(pluginNative), []byte{0}, tgt2, []byte{0}))
	out, _ := d.take()
	if !bytes.Equal(out, pkt(3, nativePassword(tgt2, "s3cret"))) {
		t.Fatalf("switch response %v", out)
	}
}

func TestQueryResultSet(t *testing.T) {
	for _, deprecate := range []bool{true, false} {
		d := &driver{t: t, s: newTestSession(t)}
		caps := uint32(clientCaps)
		if !deprecate {
			caps &^= capDeprecateEOF
		}
		d.online(greeting(onlineScr, pluginNative, false))
		d.target(greeting(targetScr, pluginNative, false))
		d.client(pkt(1, loginPayload(caps, "app", nil, "", pluginNative)))
		d.online(pkt(2, okPkt))
		d.target(pkt(2, okPkt))
		d.take()
		d.client(pkt(0, []byte{comQuery}, []byte("SELECT a,b FROM t")))
		d.take()
		col := pkt(2, []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'a', 0, 0x0c, 45, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0, 0})
		eof := []byte{0xFE, 0, 0, 2, 0}
		resp := [][]byte{pkt(1, []byte{2}), col, col}
		if !deprecate {
			resp = append(resp, pkt(4, eof))
		}
		// a row whose first column is 251+ bytes long: lenenc 0xFC, not an EOF
		resp = append(resp, pkt(5, []byte{0xFC, 0x00, 0x01}, bytes.Repeat([]byte{'x'}, 256), []byte{1, 'y'}))
		// a row starting with 0xFE (8-byte length) is at least 9 bytes: not an EOF
		if deprecate {
			resp = append(resp, pkt(6, []byte{0xFE, 0, 0, 2, 0, 0, 0})) // OK with 0xFE header ends
		} else {
			resp = append(resp, pkt(6, eof))
		}
		for i, r := range resp {
			d.target(r)
			_, m := d.take()
			if last := i == len(resp)-1; (m == ResponseComplete) != last {
				t.Fatalf("deprecateEOF=%v packet %d: mark %v", deprecate, i, m)
			}
		}
	}
}

// A multi-statement query: a result set with SERVER_MORE_RESULTS_EXISTS
// is followed by another result; only the last ends the response.
func TestQueryMoreResults(t *testing.T) {
	d := loggedIn(t)
	d.client(pkt(0, []byte{comQuery}, []byte("CALL p()")))
	d.take()
	steps := []struct {
		p    []byte
		done bool
	}{
		{pkt(1, []byte{0, 1, 0}, le16(statusMoreResults), le16(0)), false},
		{pkt(2, []byte{1}), false},
		{pkt(3, []byte{3, 'd', 'e', 'f'}), false},
		{pkt(4, []byte{1, '1'}), false},
		{pkt(5, []byte{0xFE, 0, 0}, le16(statusMoreResults), le16(0)), false},
		{pkt(6, []byte{0, 0, 0}, le16(2), le16(0)), true},
	}
	for i, st := range steps {
		d.target(st.p)
		if _, m := d.take(); (m == ResponseComplete) != st.done {
			t.Fatalf("step %d: mark %v", i, m)
		}
	}
}

func prepareOK(id uint32, cols, params uint16) []byte {
	return pkt(1, []byte{0}, le32(id), le16(cols), le16(params), []byte{0}, le16(0))
}

// Statement ids: online 7, target 1; EXECUTE/SEND_LONG_DATA/RESET/FETCH/
// CLOSE carry the target's id; no response is awaited after SEND_LONG_DATA
// and CLOSE.
func TestPreparedStatementIDs(t *testing.T) {
	d := loggedIn(t)
	d.client(pkt(0, []byte{comStmtPrepare}, []byte("SELECT * FROM t WHERE id=?")))
	d.take()
	def := pkt(2, []byte{3, 'd', 'e', 'f'})
	d.online(prepareOK(7, 1, 1))
	d.online(def)
	d.online(def)
	// EXECUTE arrives before the target's PREPARE_OK: held.
	exec := pkt(0, []byte{comStmtExecute}, le32(7), []byte{0}, le32(1), []byte{0, 1, 3, 0}, le32(5))
	d.client(exec)
	if out, _ := d.take(); len(out) != 0 {
		t.Fatal("EXECUTE sent before the target's statement id is known")
	}
	d.target(prepareOK(1, 1, 1))
	d.target(def)
	out, m := d.take()
	if len(out) != 0 || m != 0 {
		t.Fatalf("prepare not complete yet: %v %v", out, m)
	}
	d.target(def)
	out, m = d.take()
	want := append([]byte(nil), exec...)
	binary.LittleEndian.PutUint32(want[5:], 1)
	if !bytes.Equal(out, want) || m != ResponseComplete|RequestStart {
		t.Fatalf("EXECUTE %v mark %v, want %v", out, m, want)
	}
	d.target(pkt(1, okPkt))
	if _, m := d.take(); m != ResponseComplete {
		t.Fatal("EXECUTE OK not complete")
	}
	for _, c := range []struct {
		cmd      byte
		tail     []byte
		response bool
	}{
		{comStmtSendLong, []byte{0, 0, 'a', 'b'}, false},
		{comStmtReset, nil, true},
		{comStmtFetch, le32(10), true},
		{comStmtClose, nil, false},
	} {
		d.client(pkt(0, []byte{c.cmd}, le32(7), c.tail))
		out, m := d.take()
		if binary.LittleEndian.Uint32(out[5:]) != 1 || m != RequestStart {
			t.Fatalf("cmd 0x%02x: id %d mark %v", c.cmd, binary.LittleEndian.Uint32(out[5:]), m)
		}
		if got := len(d.s.target.q); got != map[bool]int{true: 1, false: 0}[c.response] {
			t.Fatalf("cmd 0x%02x: %d responses awaited", c.cmd, got)
		}
		if c.cmd == comStmtReset {
			d.target(pkt(1, okPkt))
		}
		if c.cmd == comStmtFetch {
			d.target(pkt(1, []byte{0, 0, 1, 'a'}))
			d.target(pkt(2, []byte{0xFE, 0, 0}, le16(0x80), le16(0)))
		}
		if _, m := d.take(); (m == ResponseComplete) != c.response {
			t.Fatalf("cmd 0x%02x: mark %v", c.cmd, m)
		}
	}
	// After CLOSE, the online id is unknown: a fate.
	d.client(exec)
	if f := d.s.Fate(); f == nil || f.Code != FateUnknownStatement {
		t.Fatalf("fate %v", f)
	}
}

func TestChangeUser(t *testing.T) {
	d := loggedIn(t)
	c := &ChangeUser{User: "other", AuthResponse: nativePassword(onlineScr, "pw2"), Database: "db2",
		Charset: 255, HasCharset: true, Plugin: pluginNative, Attrs: []byte{0}}
	caps := uint32(clientCaps)
	payload, err := c.AppendChangeUser(nil, caps)
	if err != nil {
		t.Fatal(err)
	}
	d.client(pkt(0, payload))
	out, m := d.take()
	got, err := ParseChangeUser(caps, pktPayload(out))
	if err != nil || m != RequestStart {
		t.Fatal(err, m)
	}
	if got.User != "other" || got.Database != "db2" || !bytes.Equal(got.AuthResponse, nativePassword(targetScr, "pw2")) ||
		got.Plugin != pluginNative {
		t.Fatalf("rebuilt %+v", got)
	}
	tgt2 := []byte("switchSCRAMBLE_00000")
	d.target(pkt(1, []byte{0xFE}, []byte(pluginSHA2), []byte{0}, tgt2, []byte{0}))
	out, _ = d.take()
	if !bytes.Equal(out, pkt(2, sha2Password(tgt2, "pw2"))) {
		t.Fatalf("switch answer %v", out)
	}
	d.target(pkt(3, []byte{1, 3}))
	d.target(pkt(4, okPkt))
	if _, m := d.take(); m != ResponseComplete {
		t.Fatalf("mark %v", m)
	}
	d.client(pkt(0, []byte{0x0E}))
	if out, m := d.take(); len(out) != 5 || m != RequestStart {
		t.Fatal("ping after change user")
	}
}

func TestFates(t *testing.T) {
	native := func(caps uint32, user, plugin string) []byte {
		return pkt(1, loginPayload(caps, user, []byte("x"), "", plugin))
	}
	tests := []struct {
		name   string
		client []byte
		code   string
	}{
		{"ssl", pkt(1, le32(clientCaps|capSSL), le32(1<<24), []byte{45}, make([]byte, 23)), FateTLS},
		{"compress", native(clientCaps|capCompress, "app", pluginNative), FateCompress},
		{"zstd", native(clientCaps|capZstd, "app", pluginNative), FateCompress},
		{"no password", native(clientCaps, "nobody", pluginNative), FateNoPassword},
		{"plugin", native(clientCaps, "app", "auth_gssapi_client"), FateUnknownPlugin},
		{"old protocol", pkt(1, le16(0x0001), []byte{0, 0, 0}, []byte("app\x00")), FateOldProtocol},
	}
	for _, tt := range tests {
		d := &driver{t: t, s: newTestSession(t)}
		d.target(greeting(targetScr, pluginNative, false))
		d.client(tt.client)
		if f := d.s.Fate(); f == nil || f.Code != tt.code {
			t.Errorf("%s: fate %v, want %s", tt.name, f, tt.code)
		}
		var fe *Fate
		if f := d.s.Fate(); f != nil && !errors.As(error(f), &fe) {
			t.Errorf("%s: not a *Fate error", tt.name)
		}
		// A failed session takes no more input.
		if out, _ := d.s.Client(nil, pkt(0, []byte{comQuery}), 0); len(out) != 0 {
			t.Errorf("%s: output after the fate", tt.name)
		}
	}
	// LOCAL INFILE and a rejected login come from the target.
	d := loggedIn(t)
	d.client(pkt(0, []byte{comQuery}, []byte("LOAD DATA LOCAL INFILE 'x' INTO TABLE t")))
	d.target(pkt(1, []byte{0xFB}, []byte("x")))
	if f := d.s.Fate(); f == nil || f.Code != FateLocalInfile {
		t.Errorf("local infile: fate %v", f)
	}
	d = &driver{t: t, s: newTestSession(t)}
	d.target(greeting(targetScr, pluginNative, false))
	d.client(native(clientCaps, "app", pluginNative))
	d.target(pkt(2, []byte{0xFF}, le16(1045), []byte("#28000Access denied")))
	if f := d.s.Fate(); f == nil || f.Code != FateAuthFailed {
		t.Errorf("auth failed: fate %v", f)
	}
}

// Every byte stream of a session, cut at every possible point, gives the
// same output as fed whole.
func TestSegmentBoundaries(t *testing.T) {
	login := pkt(1, loginPayload(clientCaps, "app", nativePassword(onlineScr, "s3cret"), "shop", pluginNative))
	cmds := bytes.Join([][]byte{
		pkt(0, []byte{comQuery}, []byte("SELECT 1")),
		pkt(0, []byte{comStmtPrepare}, []byte("SELECT ?")),
		pkt(0, []byte{comStmtExecute}, le32(9), []byte{0}, le32(1)),
	}, nil)
	tgt := bytes.Join([][]byte{greeting(targetScr, pluginNative, false), pkt(2, okPkt),
		pkt(1, okPkt), prepareOK(3, 0, 0)}, nil)
	onl := bytes.Join([][]byte{greeting(onlineScr, pluginNative, false), pkt(2, okPkt),
		pkt(1, okPkt), prepareOK(9, 0, 0)}, nil)
	gt := greeting(targetScr, pluginNative, false)
	run := func(cut int) []byte {
		d := &driver{t: t, s: newTestSession(t)}
		feed := func(f func([]byte) *driver, b []byte) {
			for len(b) > 0 {
				n := min(cut, len(b))
				f(b[:n])
				b = b[n:]
			}
		}
		og := greeting(onlineScr, pluginNative, false)
		feed(d.online, onl[:len(og)])
		feed(d.client, login)
		feed(d.target, tgt[:len(gt)])
		feed(d.online, pkt(2, okPkt))
		feed(d.target, pkt(2, okPkt))
		feed(d.client, cmds)
		feed(d.online, onl[len(og)+len(pkt(2, okPkt)):])
		feed(d.target, tgt[len(gt)+len(pkt(2, okPkt)):])
		out, _ := d.take()
		return out
	}
	whole := run(1 << 20)
	if n := len(packets(t, whole)); n != 4 {
		t.Fatalf("%d packets out", n)
	}
	if id := binary.LittleEndian.Uint32(whole[len(whole)-9:]); id != 3 {
		t.Fatalf("execute carries id %d", id)
	}
	for cut := 1; cut < 64; cut++ {
		if got := run(cut); !bytes.Equal(got, whole) {
			t.Fatalf("cut %d: output differs", cut)
		}
	}
}

// A 16 MB query is a full packet and a continuation; both pass through,
// and the continuation's first byte is not taken for a command.
func TestContinuationPackets(t *testing.T) {
	d := loggedIn(t)
	big := make([]byte, maxPayload)
	big[0] = comQuery
	cont := pkt(1, []byte{comStmtExecute, 1, 2, 3, 4})
	in := append(pkt(0, big), cont...)
	for i := 0; i < len(in); i += 1 << 20 {
		d.client(in[i:min(i+1<<20, len(in))])
	}
	out, m := d.take()
	if !bytes.Equal(out, in) || m != RequestStart {
		t.Fatalf("continuation: %d bytes out of %d, mark %v", len(out), len(in), m)
	}
	if len(d.s.target.q) != 1 {
		t.Fatalf("%d responses awaited", len(d.s.target.q))
	}
}

func TestHeldBound(t *testing.T) {
	u, _ := NewUsers(testPasswd)
	s := New(Config{Users: u, MaxHeld: 1000})
	d := &driver{t: t, s: s}
	d.online(greeting(onlineScr, pluginNative, false))
	// no target greeting: everything is held
	d.s.Client(nil, pkt(1, loginPayload(clientCaps, "app", nil, "", pluginNative)), 0)
	for range 20 {
		d.s.Client(nil, pkt(0, []byte{comQuery}, make([]byte, 100)), 0)
	}
	if f := d.s.Fate(); f == nil || f.Code != FateOverflow {
		t.Fatalf("fate %v", f)
	}
}

// MariaDB's id 0xFFFFFFFF (the statement just prepared) passes unchanged;
// COM_STMT_BULK_EXECUTE is rewritten; COM_RESET_CONNECTION forgets ids.
func TestStatementIDSpecials(t *testing.T) {
	d := loggedIn(t)
	d.client(pkt(0, []byte{comStmtPrepare}, []byte("INSERT INTO t VALUES (?)")))
	d.client(pkt(0, []byte{comStmtExecute}, le32(lastStatement), []byte{0}, le32(1)))
	out, _ := d.take()
	if ps := packets(t, out); len(ps) != 2 || binary.LittleEndian.Uint32(pktPayload(ps[1])[1:]) != lastStatement {
		t.Fatalf("direct execute: %v", out)
	}
	d.online(prepareOK(8, 0, 1))
	d.online(pkt(2, []byte{3, 'd', 'e', 'f'}))
	d.target(prepareOK(2, 0, 1))
	d.target(pkt(2, []byte{3, 'd', 'e', 'f'}))
	d.client(pkt(0, []byte{comStmtBulk}, le32(8), le16(0x80)))
	out, _ = d.take()
	if ps := packets(t, out); len(ps) != 1 || binary.LittleEndian.Uint32(pktPayload(ps[0])[1:]) != 2 {
		t.Fatalf("bulk execute: %v", out)
	}
	d.client(pkt(0, []byte{comResetConn}))
	d.take()
	d.client(pkt(0, []byte{comStmtExecute}, le32(8), []byte{0}, le32(1)))
	if f := d.s.Fate(); f == nil || f.Code != FateUnknownStatement {
		t.Fatalf("after reset: fate %v", f)
	}
}

// Pipelined requests released in one call each have their offset.
func TestRequestOffsets(t *testing.T) {
	d := &driver{t: t, s: newTestSession(t)}
	d.online(greeting(onlineScr, pluginNative, false))
	d.target(greeting(targetScr, pluginNative, false))
	login := pkt(1, loginPayload(clientCaps, "app", nil, "", pluginNative))
	q1 := pkt(0, []byte{comQuery}, []byte("SELECT 1"))
	q2 := pkt(0, []byte{comQuery}, []byte("SELECT 22"))
	d.client(bytes.Join([][]byte{login, q1, q2}, nil))
	out, _ := d.take()
	if got := d.s.RequestOffsets(); len(got) != 1 || got[0] != 0 {
		t.Fatalf("login call: offsets %v", got)
	}
	d.out = append(d.out, "prefix"...) // the engine's buffer may hold bytes already
	d.target(pkt(2, okPkt))
	out, _ = d.take()
	if got := d.s.RequestOffsets(); len(got) != 2 || got[0] != 0 || got[1] != len(q1) ||
		!bytes.Equal(out, bytes.Join([][]byte{[]byte("prefix"), q1, q2}, nil)) {
		t.Fatalf("released queries: offsets %v, out %q", got, out)
	}
}

// A 16 MB COM_STMT_EXECUTE held for its statement id is rewritten when
// released, and its continuation passes after it.
func TestHeldContinuationExecute(t *testing.T) {
	d := loggedIn(t)
	d.client(pkt(0, []byte{comStmtPrepare}, []byte("INSERT INTO t VALUES (?)")))
	d.online(prepareOK(7, 0, 0))
	d.take()
	big := make([]byte, maxPayload)
	big[0] = comStmtExecute
	binary.LittleEndian.PutUint32(big[1:], 7)
	in := append(pkt(0, big), pkt(1, []byte("tail"))...)
	d.s.cfg.MaxHeld = len(in) + 1
	d.client(in)
	if out, _ := d.take(); len(out) != 0 {
		t.Fatal("sent before the target's id")
	}
	d.target(prepareOK(4, 0, 0))
	out, _ := d.take()
	if len(out) != len(in) || binary.LittleEndian.Uint32(out[5:]) != 4 || !bytes.Equal(out[headerLen+5:], in[headerLen+5:]) {
		t.Fatalf("released %d bytes, id %d", len(out), binary.LittleEndian.Uint32(out[5:]))
	}
}

// Holding: the Session owes the target client bytes while a login or a
// command waits for the target, or while it answers the target's auth
// for the client; not once everything is through, nor after a fate.
func TestHolding(t *testing.T) {
	d := &driver{t: t, s: newTestSession(t)}
	step := func(what string, want bool) {
		t.Helper()
		if got := d.s.Holding(); got != want {
			t.Fatalf("%s: Holding %v, want %v", what, got, want)
		}
	}
	step("new session", false)
	d.online(greeting(onlineScr, pluginNative, false))
	d.client(pkt(1, loginPayload(clientCaps, "app", nativePassword(onlineScr, "s3cret"), "", pluginNative)))
	step("login before the target's greeting", true)
	d.target(greeting(targetScr, pluginNative, false))
	step("login sent, target's answer pending", true)
	d.client(pkt(0, []byte{comQuery}, []byte("SELECT 1")))
	d.online(pkt(2, okPkt))
	step("query held for the target's login", true)
	d.target(pkt(2, okPkt))
	step("login and query through", false)
	d.take()
	d.client(pkt(0, []byte{comStmtExecute}, le32(77), []byte{0, 1, 0, 0, 0}))
	if d.s.Fate() == nil {
		t.Fatal("execute of an unknown statement: no fate")
	}
	step("after a fate", false)
}

// MariaDB's MARIADB_CLIENT_CACHE_METADATA: the login the target receives
// does not ask for it (the target's result sets keep their definitions),
// while the online server, granted it, answers an EXECUTE with a
// metadata-follows byte of 0 and no definitions; the online stream keeps
// its place, so the next PREPARE's online id is learnt and its EXECUTE
// goes. (Sysbench's prepared statements lost the online stream here: its
// held bytes grew until mysql_overflow.)
func TestCacheMetadataMariaDB(t *testing.T) {
	d := &driver{t: t, s: newTestSession(t)}
	d.online(greeting(onlineScr, pluginNative, true))
	d.target(greeting(targetScr, pluginNative, true))
	l := &Login{Capabilities: clientCaps &^ capLongPassword, MaxPacket: 1 << 24, Charset: 45, User: "app",
		AuthResponse: nativePassword(onlineScr, "s3cret"), Plugin: pluginNative}
	binary.LittleEndian.PutUint32(l.Filler[19:], extCacheMetadata|0x4)
	d.client(pkt(1, l.AppendLoginMust()))
	out, _ := d.take()
	sent, err := ParseLogin(pktPayload(packets(t, out)[0]))
	if err != nil || sent.extCaps() != 0x4 {
		t.Fatalf("login to the target: ext caps %#x (%v), want 0x4 (cache metadata cleared)", sent.extCaps(), err)
	}
	d.online(pkt(2, okPkt))
	d.target(pkt(2, okPkt))
	d.take()
	def := []byte{3, 'd', 'e', 'f'}
	eofOK := []byte{0xFE, 0, 0, 2, 0, 0, 0}
	prepare := func(text string, onlineID, targetID uint32) {
		t.Helper()
		d.client(pkt(0, []byte{comStmtPrepare}, []byte(text)))
		d.online(prepareOK(onlineID, 2, 0))
		d.online(pkt(2, def))
		d.online(pkt(3, def))
		d.target(prepareOK(targetID, 2, 0))
		d.target(pkt(2, def))
		d.target(pkt(3, def))
		d.take()
	}
	exec := func(id uint32) []byte {
		return pkt(0, []byte{comStmtExecute}, le32(id), []byte{0}, le32(1))
	}
	prepare("SELECT c, k FROM t", 5, 50)
	d.client(exec(5))
	out, _ = d.take()
	if binary.LittleEndian.Uint32(out[5:]) != 50 {
		t.Fatalf("EXECUTE sent with id %d, want 50", binary.LittleEndian.Uint32(out[5:]))
	}
	// Online: cached metadata (byte 0), rows, OK-EOF. Target: definitions.
	row := []byte{0, 0, 1, 'x', 1, 'y'}
	d.online(pkt(1, []byte{2, 0}))
	d.online(pkt(2, row))
	d.online(pkt(3, eofOK))
	d.target(pkt(1, []byte{2}))
	d.target(pkt(2, def))
	d.target(pkt(3, def))
	d.target(pkt(4, row))
	d.target(pkt(5, eofOK))
	if _, m := d.take(); m != ResponseComplete {
		t.Fatalf("EXECUTE: mark %v, want its response complete", m)
	}
	if n := d.s.online.f.held(); n != 0 || len(d.s.online.q) != 0 {
		t.Fatalf("online stream: %d bytes held, %d responses owed, want it in step", n, len(d.s.online.q))
	}
	prepare("SELECT k, c FROM t", 6, 60)
	d.client(exec(6))
	if out, _ := d.take(); len(out) == 0 || binary.LittleEndian.Uint32(out[5:]) != 60 {
		t.Fatalf("second EXECUTE %v, want it sent with id 60", out)
	}
	if c := d.s.Counts(); c.Online != 3 || c.Target != 3 {
		t.Fatalf("counts %+v, want 3 statements answered on each side", c)
	}
}

// The online server may accept the login before the target has greeted
// (the client's login is held for the target's scramble until then): the
// online stream still takes the client's capabilities, so a result set
// with EOF packets (no CLIENT_DEPRECATE_EOF) is read whole on both sides.
func TestOnlineLoginAnsweredFirst(t *testing.T) {
	d := &driver{t: t, s: newTestSession(t)}
	caps := uint32(clientCaps &^ capDeprecateEOF)
	d.online(greeting(onlineScr, pluginNative, true))
	d.client(pkt(1, loginPayload(caps, "app", nativePassword(onlineScr, "s3cret"), "", pluginNative)))
	d.online(pkt(2, okPkt))
	d.target(greeting(targetScr, pluginNative, true))
	d.target(pkt(2, okPkt))
	d.take()
	d.client(pkt(0, []byte{comQuery}, []byte("SELECT a FROM t")))
	d.take()
	col := pkt(2, []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'a', 0, 0x0c, 45, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0, 0})
	eof := []byte{0xFE, 0, 0, 2, 0}
	resp := [][]byte{pkt(1, []byte{1}), col, pkt(3, eof), pkt(4, []byte{1, 'y'}), pkt(5, eof)}
	for _, r := range resp {
		d.online(r)
		d.target(r)
	}
	d.take()
	var x Exchange
	for d.s.Exchange(&x) && x.Request == 0 {
	}
	if x.Request != 1 || !x.Same || x.OnlineBytes != x.TargetBytes {
		t.Fatalf("query exchange %+v: want request 1 answered alike", x)
	}
	if c := d.s.Counts(); c.Online != 1 || c.Target != 1 || c.Differ != 0 {
		t.Fatalf("counts %+v", c)
	}
}
