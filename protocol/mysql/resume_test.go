package mysql

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

func testStore(t *testing.T) (*Store, *Users) {
	t.Helper()
	u, err := NewUsers(testPasswd)
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(8, 64), u
}

// A captured session teaches the Store its login and statement texts; a
// later session of the same client that started before its capture logs
// in by itself and re-prepares the statement it executes.
func TestResumeFromSavedLogin(t *testing.T) {
	st, u := testStore(t)
	addr := "10.0.0.1:5000"
	d := &driver{t: t, s: New(Config{Users: u, Store: st, ClientAddr: addr})}
	d.online(greeting(onlineScr, pluginNative, false))
	d.target(greeting(targetScr, pluginNative, false))
	d.client(pkt(1, loginPayload(clientCaps, "app", []byte("whatever"), "shop", pluginNative)))
	d.online(pkt(2, okPkt))
	d.target(pkt(2, okPkt))
	d.client(pkt(0, []byte{comStmtPrepare}, []byte("SELECT ?")))
	d.online(prepareOK(21, 0, 0))
	d.target(prepareOK(1, 0, 0))
	d.take()
	if text, ok := st.Statement(addr, 21); !ok || text != "SELECT ?" {
		t.Fatalf("statement text %q %v", text, ok)
	}

	s, err := NewResumed(Config{Users: u, Store: st, ClientAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	r := &driver{t: t, s: s}
	exec := pkt(0, []byte{comStmtExecute}, le32(21), []byte{0}, le32(1))
	r.client(exec) // held: the Session's own login is not through
	if out, _ := r.take(); len(out) != 0 {
		t.Fatal("command sent before the login")
	}
	r.target(greeting(targetScr, pluginNative, false))
	out, m := r.take()
	ps := packets(t, out)
	if len(ps) != 1 || m != 0 {
		t.Fatalf("inserted login: %d packets, mark %v", len(ps), m)
	}
	l, err := ParseLogin(pktPayload(ps[0]))
	if err != nil || l.User != "app" || l.Database != "shop" || !bytes.Equal(l.AuthResponse, nativePassword(targetScr, "s3cret")) {
		t.Fatalf("inserted login %+v %v", l, err)
	}
	r.target(pkt(2, okPkt))
	out, m = r.take()
	if !bytes.Equal(out, pkt(0, []byte{comStmtPrepare}, []byte("SELECT ?"))) || m != 0 {
		t.Fatalf("re-prepare %q mark %v", out, m)
	}
	r.target(prepareOK(5, 0, 0))
	out, m = r.take()
	if len(out) != len(exec) || binary.LittleEndian.Uint32(out[5:]) != 5 || m != RequestStart {
		t.Fatalf("execute %v mark %v", out, m)
	}
	r.target(pkt(1, okPkt))
	if _, m := r.take(); m != ResponseComplete {
		t.Fatalf("mark %v", m)
	}
	var x Exchange
	if !r.s.Exchange(&x) || x.Kind != "stmt_execute" || x.Request != 0 {
		t.Fatalf("exchange %+v: the inserted login and prepare are not requests", x)
	}

	// A statement whose text was never captured.
	s, _ = NewResumed(Config{Users: u, Store: st, ClientAddr: addr})
	r = &driver{t: t, s: s}
	r.target(greeting(targetScr, pluginNative, false))
	r.target(pkt(2, okPkt))
	r.client(pkt(0, []byte{comStmtExecute}, le32(99), []byte{0}, le32(1)))
	if f := r.s.Fate(); f == nil || f.Code != FateUnknownStatement {
		t.Fatalf("fate %v", f)
	}
}

func TestResumeDefaultAndNoLogin(t *testing.T) {
	st, u := testStore(t)
	if _, err := NewResumed(Config{Users: u, Store: st, ClientAddr: "a"}); err == nil ||
		err.(*Fate).Code != FateNoLogin {
		t.Fatalf("err %v", err)
	}
	if _, err := NewResumed(Config{Users: u, ClientAddr: "a"}); err == nil || err.(*Fate).Code != FateNoLogin {
		t.Fatalf("no store: err %v", err)
	}
	st.Default = DefaultLogin("other", "db1")
	s, err := NewResumed(Config{Users: u, Store: st, ClientAddr: "a"})
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, s: s}
	d.target(greeting(targetScr, pluginSHA2, false))
	out, _ := d.take()
	l, err := ParseLogin(pktPayload(out))
	if err != nil || l.User != "other" || l.Database != "db1" || !bytes.Equal(l.AuthResponse, nativePassword(targetScr, "pw2")) {
		t.Fatalf("default login %+v %v", l, err)
	}
	// The default user needs a password too.
	st.Default = DefaultLogin("ghost", "")
	s, _ = NewResumed(Config{Users: u, Store: st, ClientAddr: "a"})
	s.Target(nil, greeting(targetScr, pluginNative, false), 0)
	if f := s.Fate(); f == nil || f.Code != FateNoPassword {
		t.Fatalf("fate %v", f)
	}
}

func TestStoreBounds(t *testing.T) {
	st := NewStore(2, 3)
	for i := range 5 {
		st.SaveLogin(fmt.Sprint("c", i), &Login{User: "u", AuthResponse: []byte("secret")})
		st.SaveStatement("c", uint32(i), fmt.Sprint("q", i))
	}
	if _, ok := st.Login("c0"); ok {
		t.Error("oldest login kept beyond the bound")
	}
	l, ok := st.Login("c4")
	if !ok || l.AuthResponse != nil {
		t.Errorf("latest login %+v %v (auth response must not be kept)", l, ok)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := st.Statement("c", uint32(i)); ok != want {
			t.Errorf("statement %d kept=%v", i, ok)
		}
	}
	// last login per address across users
	st.SaveLogin("c9", &Login{User: "a"})
	st.SaveLogin("c9", &Login{User: "b"})
	if l, _ := st.Login("c9"); l.User != "b" {
		t.Errorf("latest login of c9 is %q", l.User)
	}
}
