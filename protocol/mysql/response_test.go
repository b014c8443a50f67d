package mysql

import (
	"bytes"
	"testing"
)

// Response boundaries, packet by packet: done must be reported at the last
// packet and never before.
func TestResponseBoundaries(t *testing.T) {
	ok := []byte{0, 0, 0, 2, 0, 0, 0}
	eof := []byte{0xFE, 0, 0, 2, 0}
	eofCursor := append([]byte{0xFE, 0, 0}, le16(statusCursorExists)...)
	okEOF := []byte{0xFE, 0, 0, 2, 0, 0, 0}
	errp := append([]byte{0xFF}, le16(1064)...)
	col := []byte{3, 'd', 'e', 'f'}
	row := []byte{1, 'x'}
	prep := func(cols, params uint16) []byte {
		return bytes.Join([][]byte{{0}, le32(1), le16(cols), le16(params), {0}, le16(0)}, nil)
	}
	tests := []struct {
		name      string
		cmd       byte
		deprecate bool
		pkts      [][]byte
		class     byte
	}{
		{"query ok", comQuery, false, [][]byte{ok}, classOK},
		{"query err", comQuery, false, [][]byte{errp}, classErr},
		{"rows", comQuery, false, [][]byte{{2}, col, col, eof, row, row, eof}, classRows},
		{"rows deprecate", comQuery, true, [][]byte{{1}, col, row, okEOF}, classRows},
		{"rows then err", comQuery, false, [][]byte{{1}, col, eof, row, errp}, classRows},
		{"empty rows", comQuery, true, [][]byte{{1}, col, okEOF}, classRows},
		{"binary rows", comStmtExecute, false, [][]byte{{1}, col, eof, {0, 0, 5, 0, 0, 0}, eof}, classRows},
		{"cursor open", comStmtExecute, false, [][]byte{{1}, col, eofCursor}, classRows},
		{"fetch", comStmtFetch, false, [][]byte{{0, 0, 1}, {0, 0, 2}, eof}, classRows},
		{"fetch err", comStmtFetch, false, [][]byte{errp}, classErr},
		{"prepare 0/0", comStmtPrepare, false, [][]byte{prep(0, 0)}, classPrepared},
		{"prepare params cols eof", comStmtPrepare, false, [][]byte{prep(2, 1), col, eof, col, col, eof}, classPrepared},
		{"prepare cols only eof", comStmtPrepare, false, [][]byte{prep(1, 0), col, eof}, classPrepared},
		{"prepare params only deprecate", comStmtPrepare, true, [][]byte{prep(0, 2), col, col}, classPrepared},
		{"prepare both deprecate", comStmtPrepare, true, [][]byte{prep(1, 1), col, col}, classPrepared},
		{"prepare err", comStmtPrepare, false, [][]byte{errp}, classErr},
		{"field list", comFieldList, false, [][]byte{col, col, eof}, classRows},
		{"statistics", comStatistics, false, [][]byte{[]byte("Uptime: 5")}, classOther},
		{"ping", 0x0E, false, [][]byte{ok}, classOK},
		{"set option eof", 0x1B, false, [][]byte{eof}, classOK},
	}
	// MARIADB_CLIENT_CACHE_METADATA: the column count carries a
	// metadata-follows byte; at 0 no definitions follow.
	meta := []struct {
		name  string
		cmd   byte
		f     respFlags
		pkts  [][]byte
		class byte
	}{
		{"cached execute", comStmtExecute, respFlags{cacheMeta: true}, [][]byte{{2, 0}, eof, {0, 0, 5}, eof}, classRows},
		{"cached execute deprecate", comStmtExecute, respFlags{true, true}, [][]byte{{2, 0}, {0, 0, 5}, {0, 0, 6}, okEOF}, classRows},
		{"metadata follows", comStmtExecute, respFlags{cacheMeta: true}, [][]byte{{1, 1}, col, eof, {0, 0, 5}, eof}, classRows},
		{"query metadata follows deprecate", comQuery, respFlags{true, true}, [][]byte{{1, 1}, col, row, okEOF}, classRows},
		{"cached ok", comStmtExecute, respFlags{cacheMeta: true}, [][]byte{ok}, classOK},
	}
	for _, tt := range tests {
		checkBoundaries(t, tt.name, tt.cmd, respFlags{deprecateEOF: tt.deprecate}, tt.pkts, tt.class)
	}
	for _, tt := range meta {
		checkBoundaries(t, tt.name, tt.cmd, tt.f, tt.pkts, tt.class)
	}
	// Malformed answers are refused with a fate.
	for _, tt := range []struct {
		cmd  byte
		pkts [][]byte
		code string
	}{
		{comQuery, [][]byte{{0xFB, 'f'}}, FateLocalInfile},
		{comQuery, [][]byte{{}}, FateProtocol},
		{comQuery, [][]byte{{0xFC}}, FateProtocol},
		{comQuery, [][]byte{{1}, col, row}, FateProtocol}, // no EOF after the definitions
		{comStmtPrepare, [][]byte{{0, 1}}, FateProtocol},
	} {
		var r response
		r.start(tt.cmd, respFlags{}, true)
		var err error
		for _, p := range tt.pkts {
			if _, err = r.packet(p); err != nil {
				break
			}
		}
		if f, _ := err.(*Fate); f == nil || f.Code != tt.code {
			t.Errorf("cmd 0x%02x %v: %v, want %s", tt.cmd, tt.pkts, err, tt.code)
		}
	}
}

// checkBoundaries feeds pkts as one response: done at the last packet only,
// with class.
func checkBoundaries(t *testing.T, name string, cmd byte, f respFlags, pkts [][]byte, class byte) {
	t.Helper()
	var r response
	r.start(cmd, f, true)
	for i, p := range pkts {
		done, err := r.packet(p)
		if err != nil {
			t.Fatalf("%s: packet %d: %v", name, i, err)
		}
		if last := i == len(pkts)-1; done != last {
			t.Fatalf("%s: packet %d: done=%v", name, i, done)
		}
	}
	if r.class != class || r.packets != len(pkts) {
		t.Errorf("%s: class %d packets %d", name, r.class, r.packets)
	}
}
