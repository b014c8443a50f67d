package mysql

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// verifyNative is the server's check of a mysql_native_password response:
// candidate = resp XOR SHA1(scramble + SHA1(SHA1(pw))); SHA1(candidate)
// must equal SHA1(SHA1(pw)).
func verifyNative(resp, scramble []byte, pw string) bool {
	h1 := sha1.Sum([]byte(pw))
	stored := sha1.Sum(h1[:])
	if len(resp) != sha1.Size {
		return false
	}
	x := sha1.Sum(append(append([]byte{}, scramble...), stored[:]...))
	for i := range x {
		x[i] ^= resp[i]
	}
	return sha1.Sum(x[:]) == stored
}

// verifySHA2 is the server's check of a caching_sha2_password fast-path
// response: stored = SHA256(SHA256(pw)); x = resp XOR
// SHA256(stored + scramble); SHA256(x) must equal stored.
func verifySHA2(resp, scramble []byte, pw string) bool {
	h1 := sha256.Sum256([]byte(pw))
	stored := sha256.Sum256(h1[:])
	if len(resp) != sha256.Size {
		return false
	}
	x := sha256.Sum256(append(stored[:], scramble...))
	for i := range x {
		x[i] ^= resp[i]
	}
	return sha256.Sum256(x[:]) == stored
}

// fakeServer answers what go-sql-driver sends for Ping, Exec, Prepare,
// statement Exec and Close; responses are a function of the commands, so
// the target's stream is the same with its own greeting and statement id.
type fakeServer struct {
	stmtID       uint32
	deprecateEOF bool
}

func (f fakeServer) respond(cmd []byte) [][]byte {
	switch cmd[0] {
	case comQuit, comStmtClose, comStmtSendLong:
		return nil
	case comStmtPrepare:
		r := [][]byte{prepareOK(f.stmtID, 0, 1), pkt(2, []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, '?', 0, 0x0c, 63, 0, 0, 0, 0, 0, 8, 0x80, 0, 0, 0})}
		if !f.deprecateEOF {
			r = append(r, pkt(3, []byte{0xFE, 0, 0, 2, 0}))
		}
		return r
	}
	return [][]byte{pkt(1, okPkt)}
}

func readPacket(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	b := make([]byte, 4+n)
	copy(b, h[:])
	_, err := io.ReadFull(r, b[4:])
	return b, err
}

// serveOnline runs the online server on one connection and records both
// directions.
func serveOnline(t *testing.T, ln net.Listener, f *fakeServer, client, online *bytes.Buffer, done chan<- error) {
	c, err := ln.Accept()
	if err != nil {
		done <- err
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	write := func(b []byte) {
		online.Write(b)
		c.Write(b)
	}
	write(greeting(onlineScr, pluginNative, false))
	login, err := readPacket(c)
	if err != nil {
		done <- err
		return
	}
	client.Write(login)
	l, err := ParseLogin(pktPayload(login))
	if err != nil || !verifyNative(l.AuthResponse, onlineScr, "s3cret") {
		done <- err
		write(pkt(2, []byte{0xFF}, le16(1045), []byte("#28000denied")))
		return
	}
	write(pkt(2, okPkt))
	f.deprecateEOF = l.Capabilities&capDeprecateEOF != 0
	t.Logf("client capabilities %#x", l.Capabilities)
	for {
		p, err := readPacket(c)
		if err != nil {
			done <- nil
			return
		}
		client.Write(p)
		for _, r := range f.respond(pktPayload(p)) {
			write(r)
		}
		if pktPayload(p)[0] == comQuit {
			done <- nil
			return
		}
	}
}

// A real client (go-sql-driver/mysql) against a fake online server on
// loopback; its captured stream, replayed through a Session against a
// target with another scramble and statement id, logs in and executes the
// target's statement.
func TestRealClientReplay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var client, online bytes.Buffer
	done := make(chan error, 1)
	srv := &fakeServer{stmtID: 7}
	go serveOnline(t, ln, srv, &client, &online, done)

	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "app", "s3cret", "tcp", ln.Addr().String(), "shop"
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DO 1"); err != nil {
		t.Fatal(err)
	}
	st, err := db.Prepare("DO ?")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Exec(5); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The target: its own greeting, then the same answers with id 3.
	var target bytes.Buffer
	target.Write(greeting(targetScr, pluginNative, false))
	target.Write(pkt(2, okPkt))
	cs := packets(t, client.Bytes())
	for _, p := range cs[1:] {
		for _, r := range (fakeServer{stmtID: 3, deprecateEOF: srv.deprecateEOF}).respond(pktPayload(p)) {
			target.Write(r)
		}
	}
	d := &driver{t: t, s: newTestSession(t)}
	og := len(greeting(onlineScr, pluginNative, false))
	d.online(online.Bytes()[:og])
	d.target(target.Bytes()[:og])
	d.client(client.Bytes())
	d.online(online.Bytes()[og:])
	for _, p := range packets(t, target.Bytes()[og:]) {
		d.target(p) // the target answers what it was sent
	}
	out, _ := d.take()
	ps := packets(t, out)
	if len(ps) != len(cs) {
		t.Fatalf("%d packets to the target, %d from the client", len(ps), len(cs))
	}
	l, err := ParseLogin(pktPayload(ps[0]))
	if err != nil || !verifyNative(l.AuthResponse, targetScr, "s3cret") {
		t.Fatalf("the target would refuse the login: %+v %v", l, err)
	}
	orig, _ := ParseLogin(pktPayload(cs[0]))
	l.AuthResponse, orig.AuthResponse = nil, nil
	if a, b := l.AppendLoginMust(), orig.AppendLoginMust(); !bytes.Equal(a, b) {
		t.Fatalf("login changed beyond its auth response:\n%x\n%x", a, b)
	}
	stmtCmds := 0
	for i := 1; i < len(cs); i++ {
		want := append([]byte(nil), cs[i]...)
		switch pktPayload(want)[0] {
		case comStmtExecute, comStmtClose:
			if binary.LittleEndian.Uint32(pktPayload(want)[1:]) != 7 {
				t.Fatalf("client used statement id %d", binary.LittleEndian.Uint32(pktPayload(want)[1:]))
			}
			binary.LittleEndian.PutUint32(want[5:], 3)
			stmtCmds++
		}
		if !bytes.Equal(ps[i], want) {
			t.Fatalf("packet %d: %x, want %x", i, ps[i], want)
		}
	}
	if stmtCmds != 2 {
		t.Fatalf("%d statement commands", stmtCmds)
	}
	var x Exchange
	n := 0
	for d.s.Exchange(&x) {
		if !x.Same {
			t.Errorf("exchange %+v differs", x)
		}
		n++
	}
	if n != len(cs) {
		t.Errorf("%d exchanges for %d requests", n, len(cs))
	}
}

// AppendLoginMust is AppendLogin for tests.
func (l *Login) AppendLoginMust() []byte {
	b, err := l.AppendLogin(nil)
	if err != nil {
		panic(err)
	}
	return b
}
