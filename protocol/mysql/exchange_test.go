package mysql

import (
	"strings"
	"testing"
	"unicode/utf8"
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
