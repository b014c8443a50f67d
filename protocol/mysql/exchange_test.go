package mysql

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/pairing"
)

// The endpoint of a statement is its shape: the statements that differ
// only in their values share it.
func TestEndpointKey(t *testing.T) {
	long := "SELECT " + strings.Repeat("a_column, ", 20) + "b FROM t"
	tests := []struct {
		cmd  byte
		q    string
		want string
	}{
		{comQuery, "SELECT id, v FROM cmp_items WHERE id = 17", "SELECT id, v FROM cmp_items WHERE id = ?"},
		{comQuery, "  select\n\tid,v from t1 where id=17 and f = 1.5e-3", "SELECT id,v from t1 where id=? and f = ?"},
		{comQuery, "UPDATE t SET hits = hits + 1 WHERE id = 0x1F", "UPDATE t SET hits = hits + ? WHERE id = ?"},
		{comQuery, `INSERT INTO marks VALUES ('it''s', "a\"b", 'x\'y')`, "INSERT INTO marks VALUES (?+)"},
		{comQuery, "SELECT * FROM t WHERE id IN (1, 2, 3,4) AND k = 'a'", "SELECT * FROM t WHERE id IN (?+) AND k = ?"},
		{comQuery, "SELECT c FROM sbtest1 WHERE id BETWEEN 10 AND 20", "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?"},
		{comQuery, "/* app:42 */ SELECT 1 -- trailing\n# hash\n, `col 7` FROM t", "SELECT ? , `col 7` FROM t"},
		{comQuery, "SELECT .5, -2", "SELECT ?, -?"},
		{comStmtPrepare, "SELECT c FROM sbtest1 WHERE id=?", "SELECT c FROM sbtest1 WHERE id=?"},
		{comQuery, "SELECT 'unterminated", "SELECT ?"},
		{comQuery, "SELECT /* unterminated", "SELECT"},
		{comQuery, "SELECT 'é', `naïve` FROM t", "SELECT ?, `naïve` FROM t"},
		{comQuery, long, long[:maxKeyLen]},
		{comQuery, strings.Repeat("é", 60), strings.Repeat("é", maxKeyLen/2)},
		{comInitDB, "sbtest", ""},
		{comQuery, "", ""},
	}
	for _, tt := range tests {
		got := endpointKey(tt.cmd, append([]byte{tt.cmd}, tt.q...))
		if got != tt.want {
			t.Errorf("endpointKey(0x%02x, %q) = %q, want %q", tt.cmd, tt.q, got, tt.want)
		}
	}
}

// A cut in the middle of a character leaves it out.
func TestEndpointKeyCutRune(t *testing.T) {
	q := strings.Repeat("a", maxKeyLen-1) + "é"
	if got := endpointKey(comQuery, append([]byte{comQuery}, q...)); got != strings.ToUpper(q[:maxKeyLen-1]) {
		t.Errorf("key %q", got)
	}
}

// Any statement gives a valid key of at most maxKeyLen bytes.
func FuzzEndpointKey(f *testing.F) {
	for _, s := range []string{"SELECT 1", "/*", "'\\", "`a", "-- x", "0x", "1e+", "a, ?, 'b'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		k := endpointKey(comQuery, append([]byte{comQuery}, q...))
		if len(k) > maxKeyLen || !utf8.ValidString(k) {
			t.Fatalf("key %q of %q", k, q)
		}
	})
}

// On a compared route an exchange waits for the online answer when the
// target answered first, unless the online stream ended or lags by more
// than pairing.MaxWaiting requests; a route that does not compare hands
// it out at once.
func TestExchangeWaitsForOnline(t *testing.T) {
	u, err := NewUsers(testPasswd)
	if err != nil {
		t.Fatal(err)
	}
	query := func(d *driver, q string) { d.client(pkt(0, []byte{comQuery}, []byte(q))) }
	errPkt := pkt(1, []byte{0xFF}, le16(1146), []byte("#42S02no such table"))
	tests := []struct {
		name    string
		compare bool
		run     func(d *driver) (early bool) // early: an exchange before the online answer
		want    compare.MySQLResult          // the exchange's online side
	}{
		{"target first", true, func(d *driver) bool {
			query(d, "SELECT 1")
			d.target(errPkt)
			return d.s.Exchange(&Exchange{})
		}, compare.MySQLResult{Class: "ok", Bytes: len(pkt(1, okPkt))}},
		{"no compare", false, func(d *driver) bool {
			query(d, "SELECT 1")
			d.target(errPkt)
			return d.s.Exchange(&Exchange{})
		}, compare.MySQLResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := loggedInAs(t, New(Config{Users: u, Compare: tt.compare}))
			early := tt.run(d)
			if early != !tt.compare {
				t.Fatalf("exchange before the online answer: %v, want %v", early, !tt.compare)
			}
			if !tt.compare {
				return
			}
			d.online(pkt(1, okPkt))
			var x Exchange
			if !d.s.Exchange(&x) {
				t.Fatal("no exchange after the online answer")
			}
			if on := mustDecode(t, x.OnlineData); on != tt.want {
				t.Errorf("online side %+v, want %+v", on, tt.want)
			}
			if tg := mustDecode(t, x.TargetData); tg.Class != "err" || tg.ErrCode != 1146 {
				t.Errorf("target side %+v", tg)
			}
		})
	}
	t.Run("online stream ended", func(t *testing.T) {
		d := loggedInAs(t, New(Config{Users: u, Compare: true}))
		query(d, "SELECT 1")
		d.target(errPkt)
		if d.s.Exchange(&Exchange{}) {
			t.Fatal("exchange before the online answer")
		}
		d.s.End(nil, protocol.SideOnline, 0)
		var x Exchange
		if !d.s.Exchange(&x) || string(x.OnlineData) != "{}" {
			t.Fatalf("after the online end: exchange online side %q", x.OnlineData)
		}
	})
	t.Run("online lags", func(t *testing.T) {
		d := loggedInAs(t, New(Config{Users: u, Compare: true}))
		for i := range pairing.MaxWaiting + 1 {
			query(d, fmt.Sprintf("SELECT %d", i))
			d.target(errPkt)
		}
		n := 0
		for d.s.Exchange(&Exchange{}) {
			n++
		}
		if n != 1 {
			t.Fatalf("%d exchanges with the online server %d requests behind, want 1 (the oldest)", n, pairing.MaxWaiting+1)
		}
	})
}
