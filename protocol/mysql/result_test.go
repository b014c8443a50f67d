package mysql

import (
	"bytes"
	"fmt"
	"testing"

	"net/netip"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/protocol"
)

// A compared route: each Exchange carries the request and both sides'
// results; counts and Stats follow the statements.
func TestCompareResults(t *testing.T) {
	u, err := NewUsers(testPasswd)
	if err != nil {
		t.Fatal(err)
	}
	st := &Stats{}
	d := loggedInAs(t, New(Config{Users: u, Stats: st, Compare: true, Keep: 8}))
	var x Exchange
	col := pkt(2, []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'a', 0, 0x0c, 45, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0, 0})
	rows := func(vals ...string) []byte {
		b := append(pkt(1, []byte{2}), col...)
		b = append(b, col...)
		for i, v := range vals {
			b = append(b, pkt(byte(4+i), []byte{byte(len(v))}, []byte(v), []byte{1, 'y'})...)
		}
		return append(b, pkt(9, []byte{0xFE, 0, 0, 2, 0, 0, 0})...)
	}
	tests := []struct {
		query          string
		online, target []byte
		kinds          compare.Kind
		want           compare.MySQLResult // target side
	}{
		{"SELECT a,b FROM t", rows("1", "2"), rows("1", "2"), 0, compare.MySQLResult{Class: "rows", Columns: 2, Rows: 2}},
		{" select a,b FROM t", rows("1", "2"), rows("1", "3"), compare.Body, compare.MySQLResult{Class: "rows", Columns: 2, Rows: 2}},
		{"UPDATE t SET a=1", pkt(1, []byte{0, 3, 0, 2, 0, 0, 0}), pkt(1, []byte{0, 4, 0, 2, 0, 0, 0}), compare.Body,
			compare.MySQLResult{Class: "ok", AffectedRows: 4}},
		{"INSERT INTO t VALUES (1)", pkt(1, okPkt), pkt(1, []byte{0xFF}, le16(1062), []byte("#23000Duplicate")),
			compare.Status, compare.MySQLResult{Class: "err", ErrCode: 1062}},
	}
	for i, tt := range tests {
		d.client(pkt(0, []byte{comQuery}, []byte(tt.query)))
		d.online(tt.online)
		d.target(tt.target)
		d.take()
		if !d.s.Exchange(&x) {
			t.Fatalf("%q: no exchange", tt.query)
		}
		on, err1 := DecodeResult(x.OnlineData)
		tg, err2 := DecodeResult(x.TargetData)
		if err1 != nil || err2 != nil {
			t.Fatalf("%q: %v %v", tt.query, err1, err2)
		}
		if !bytes.Equal(x.RequestData, append([]byte{comQuery}, tt.query...)[:8]) || !x.Truncated {
			t.Errorf("%q: request data %q truncated %v", tt.query, x.RequestData, x.Truncated)
		}
		if x.Key != map[int]string{0: "SELECT a,b FROM t", 1: "SELECT a,b FROM t", 2: "UPDATE t SET a=?", 3: "INSERT INTO t VALUES (?)"}[i] {
			t.Errorf("%q: key %q", tt.query, x.Key)
		}
		if tg.Bytes != len(tt.target) || on.Bytes != len(tt.online) {
			t.Errorf("%q: bytes %d/%d", tt.query, on.Bytes, tg.Bytes)
		}
		tg.Bytes, tg.Digest, tg.Meta = 0, "", ""
		if tg != tt.want {
			t.Errorf("%q: target result %+v, want %+v", tt.query, tg, tt.want)
		}
		if got := compare.MySQL(on, mustDecode(t, x.TargetData)).Kinds; got != tt.kinds {
			t.Errorf("%q: diff kinds %v, want %v", tt.query, got, tt.kinds)
		}
	}
	c := d.s.Counts()
	if c.User != "app" || c.Statements != 4 || c.Online != 4 || c.Target != 4 || c.Differ != 1 {
		t.Errorf("counts %+v", c) // only the ERR answer differs in class
	}
	if st.StmtOnline.Load() != 4 || st.StmtTarget.Load() != 4 || st.Logins.Load() != 1 || st.Differ.Load() != 1 {
		t.Errorf("stats online %d target %d logins %d differ %d", st.StmtOnline.Load(), st.StmtTarget.Load(), st.Logins.Load(), st.Differ.Load())
	}
}

func mustDecode(t *testing.T, b []byte) compare.MySQLResult {
	t.Helper()
	r, err := DecodeResult(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every fate is counted under its code; a refused resumed session too.
func TestStatsFates(t *testing.T) {
	u, _ := NewUsers(testPasswd)
	st := &Stats{}
	d := &driver{t: t, s: New(Config{Users: u, Stats: st})}
	d.target(greeting(targetScr, pluginNative, false))
	d.client(pkt(1, loginPayload(clientCaps, "app", []byte("x"), "", pluginNative)))
	d.target(pkt(2, []byte{0xFF}, le16(1045), []byte("#28000Access denied")))
	if _, err := Protocol(Config{Users: u, Stats: st, Store: NewStore(4, 4)})(startMidstream()); err == nil {
		t.Fatal("resumed session without a saved login opened")
	}
	if n := st.Fates[fateIndex(FateAuthFailed)].Load(); n != 1 {
		t.Errorf("%s counted %d", FateAuthFailed, n)
	}
	if n := st.Fates[fateIndex(FateNoLogin)].Load(); n != 1 {
		t.Errorf("%s counted %d", FateNoLogin, n)
	}
	// The engine's probe for Needs (no client address) is no session.
	if p, err := Protocol(Config{Users: u, Stats: st})(protocol.Start{}); err != nil || p.Needs() == 0 {
		t.Fatalf("probe: %v, %v", p, err)
	}
	if n := st.Sessions.Load() + st.Resumed.Load(); n != 0 {
		t.Errorf("sessions counted %d, want 0 (the probe is none)", n)
	}
	names := map[string]bool{}
	for _, m := range st.Counters() {
		for _, l := range m.Labels {
			names[l.Value] = true
		}
	}
	for _, c := range fateCodes {
		if !names[c] {
			t.Errorf("fate %s has no counter", c)
		}
	}
	if d.s.Counts().Target != 0 {
		t.Errorf("statements counted on the target after a failed login: %+v", d.s.Counts())
	}
}

func startMidstream() protocol.Start {
	return protocol.Start{Client: netip.MustParseAddrPort("10.0.0.9:4000"), Midstream: true}
}

// The rows' digest leaves the column definitions out: a MariaDB server
// that skips the definitions the client cached (online) and one that
// sends them (the target, whose login the copier makes without the
// cache) answer the same rows alike; the definitions have their own
// digest, compared when both sent them.
func TestDigestWithoutCachedMetadata(t *testing.T) {
	col := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'v'}
	otherCol := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'w'}
	okEOF := []byte{0xFE, 0, 0, 2, 0, 0, 0}
	row := func(v byte) []byte { return []byte{0, 0, 1, v} }
	parse := func(f respFlags, pkts ...[]byte) compare.MySQLResult {
		t.Helper()
		var r response
		r.start(comStmtExecute, f, true)
		for i, p := range pkts {
			done, err := r.packet(p)
			if err != nil || done != (i == len(pkts)-1) {
				t.Fatalf("packet %d: done %v, %v", i, done, err)
			}
		}
		d := sideRec{}
		d.finish(&r)
		return d.Result()
	}
	cached := respFlags{deprecateEOF: true, cacheMeta: true}
	sent := respFlags{deprecateEOF: true}
	skipped := parse(cached, []byte{1, 0}, row('a'), okEOF)
	full := parse(sent, []byte{1}, col, row('a'), okEOF)
	if skipped.Meta != "" || full.Meta == "" || skipped.Digest != full.Digest || skipped.Digest == "" {
		t.Fatalf("cached %+v, sent %+v: want the same rows digest, definitions digested only when sent", skipped, full)
	}
	tests := []struct {
		name   string
		online compare.MySQLResult
		target compare.MySQLResult
		want   string // the differing fields
	}{
		{"definitions cached online", skipped, full, "[]"},
		{"another row", skipped, parse(sent, []byte{1}, col, row('b'), okEOF), "[body digest]"},
		{"another column name", full, parse(sent, []byte{1}, otherCol, row('a'), okEOF), "[headers column_defs]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(compare.MySQL(tt.online, tt.target).Fields); got != tt.want {
			t.Errorf("%s: fields %s, want %s", tt.name, got, tt.want)
		}
	}
}
