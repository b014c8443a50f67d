package mysql

import (
	"encoding/json"
	"strings"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/pairing"
)

// The engine's protocol vocabulary, under the names this package uses.
type (
	Needs    = protocol.Needs
	Mark     = protocol.Mark
	Exchange = protocol.Exchange
)

const (
	NeedsClient      = protocol.NeedsClient
	NeedsOnline      = protocol.NeedsOnline
	NeedsTarget      = protocol.NeedsTarget
	RequestStart     = protocol.RequestStart
	ResponseComplete = protocol.ResponseComplete
)

// record is a request on its way to becoming an Exchange.
type record struct {
	n                     int
	cmd                   byte
	clientBytes, targetIn int
	sent                  int64  // when the request's last byte was captured
	req                   []byte // the request payload, kept when comparing (cut to Keep)
	key                   string // endpoint for the report, when comparing
	onl, tgt              sideRec
}

// sideRec is one server's answer to a record.
type sideRec struct {
	done        bool
	class       byte
	packets     int
	bytes       int
	res         result
	first, last int64 // when its first and last byte arrived
}

// add counts raw, one packet of the answer, arrived at at.
func (d *sideRec) add(raw []byte, at int64) {
	if d.first == 0 {
		d.first = at
	}
	d.last = at
	d.bytes += len(raw)
}

// finish records the end of the answer, as the response parser saw it.
func (d *sideRec) finish(r *response) {
	d.done, d.class, d.packets, d.res = true, r.class, r.packets, r.res
}

// same reports whether both servers answered and alike.
func (r *record) same() bool {
	return r.onl.done && r.onl.class == r.tgt.class && r.onl.packets == r.tgt.packets
}

// Exchange takes the oldest request the target has answered - on a route
// that compares, once the online server has answered it too, unless the
// online server will not (its stream ended or lost track, the session has
// a fate) or lags by more than pairing.MaxWaiting requests. Same: the
// online server answered too, in the same class (OK, ERR, rows, prepared)
// and with as many packets. On a route that compares, RequestData is the
// command's payload and OnlineData and TargetData are each side's
// compare.MySQLResult as JSON (DecodeResult reads them).
func (s *Session) Exchange(x *Exchange) bool {
	if len(s.recs) == 0 || !s.recs[0].tgt.done {
		return false
	}
	r := s.recs[0]
	if s.cfg.Compare && s.onlineDue(r) && len(s.recs) <= pairing.MaxWaiting {
		return false
	}
	s.recs = s.recs[1:]
	*x = Exchange{
		Request: r.n, Kind: commandName(r.cmd), Key: r.key,
		ClientBytes: r.clientBytes, TargetIn: r.targetIn,
		OnlineBytes: r.onl.bytes, TargetBytes: r.tgt.bytes,
		Same:       r.same(),
		OnlineSent: r.sent, OnlineFirst: r.onl.first, OnlineLast: r.onl.last,
		TargetFirst: r.tgt.first, TargetLast: r.tgt.last,
	}
	if s.cfg.Compare {
		s.onlBuf = appendResult(s.onlBuf[:0], &r.onl)
		s.tgtBuf = appendResult(s.tgtBuf[:0], &r.tgt)
		x.RequestData, x.OnlineData, x.TargetData = r.req, s.onlBuf, s.tgtBuf
		x.Truncated = r.clientBytes-headerLen > len(r.req)
	}
	return true
}

// onlineDue reports whether the online server is still to answer r.
func (s *Session) onlineDue(r *record) bool {
	if r.onl.done || s.fate != nil || s.onlineEnd {
		return false
	}
	if r == s.loginRec {
		return true
	}
	for _, e := range s.online.q {
		if e.rec == r {
			return true
		}
	}
	return false
}

// appendResult appends d's compare.MySQLResult as JSON ({} when the side
// never answered).
func appendResult(b []byte, d *sideRec) []byte {
	if !d.done {
		return append(b, "{}"...)
	}
	j, err := json.Marshal(d.Result())
	if err != nil {
		return append(b, "{}"...)
	}
	return append(b, j...)
}

func commandName(c byte) string {
	switch c {
	case 0:
		return "login"
	case comQuit:
		return "quit"
	case comInitDB:
		return "init_db"
	case comQuery:
		return "query"
	case comFieldList:
		return "field_list"
	case comStatistics:
		return "statistics"
	case comChangeUser:
		return "change_user"
	case comStmtPrepare:
		return "stmt_prepare"
	case comStmtExecute:
		return "stmt_execute"
	case comStmtSendLong:
		return "stmt_send_long_data"
	case comStmtClose:
		return "stmt_close"
	case comStmtReset:
		return "stmt_reset"
	case comStmtFetch:
		return "stmt_fetch"
	case 0x0E:
		return "ping"
	case comResetConn:
		return "reset_connection"
	case comStmtBulk:
		return "stmt_bulk_execute"
	}
	return "other"
}

// maxKeyLen bounds an endpoint key, in bytes.
const maxKeyLen = 96

// endpointKey is the report's endpoint of a command: for COM_QUERY and
// COM_STMT_PREPARE the statement's shape (fingerprint), so that the
// statements that differ only in their values share one endpoint, as
// "GET /item/{id}" does for HTTP.
func endpointKey(cmd byte, p []byte) string {
	if cmd != comQuery && cmd != comStmtPrepare || len(p) < 2 {
		return ""
	}
	var buf [maxKeyLen + 4]byte
	return strings.ToValidUTF8(string(fingerprint(buf[:0], p[1:])), "")
}

// fingerprint appends the shape of statement q to out: literals (numbers,
// quoted strings) as ?, a list of them ("?, ?, ?") as ?+, comments left
// out, white space as one space, the first word upper case; at most
// maxKeyLen bytes. Back-quoted identifiers are kept as written.
func fingerprint(out, q []byte) []byte {
	space := false // white space seen since the last byte written
	emit := func(c ...byte) {
		if space && len(out) > 0 {
			out = append(out, ' ')
		}
		space = false
		out = append(out, c...)
	}
	for i := 0; i < len(q) && len(out) < maxKeyLen; {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			space, i = true, i+1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := indexFrom(q, i+2, "*/")
			space, i = true, end+2
		case c == '#' || c == '-' && i+2 < len(q) && q[i+1] == '-' && q[i+2] <= ' ':
			space, i = true, indexFrom(q, i, "\n")+1
		case c == '\'' || c == '"':
			i = skipQuoted(q, i)
			out = literal(out, &space)
		case c == '`':
			j := min(indexFrom(q, i+1, "`")+1, len(q))
			emit(q[i:j]...)
			i = j
		case isDigit(c) || c == '.' && i+1 < len(q) && isDigit(q[i+1]):
			if len(out) > 0 && !space && isIdent(out[len(out)-1]) {
				emit(c) // part of a name: t1, col2
				i++
				continue
			}
			i = skipNumber(q, i)
			out = literal(out, &space)
		default:
			emit(c)
			i++
		}
	}
	out = out[:min(len(out), maxKeyLen)]
	for i := 0; i < len(out) && out[i]|0x20 >= 'a' && out[i]|0x20 <= 'z'; i++ {
		out[i] &^= 0x20
	}
	return out
}

// literal appends ? for a literal, or makes the list that ends out
// ("?, " or "?+,") one longer: ?+.
func literal(out []byte, space *bool) []byte {
	t := trimSpace(out)
	if len(t) > 0 && t[len(t)-1] == ',' {
		t = trimSpace(t[:len(t)-1])
		switch {
		case len(t) >= 2 && t[len(t)-2] == '?' && t[len(t)-1] == '+':
			*space = false
			return t
		case len(t) >= 1 && t[len(t)-1] == '?':
			*space = false
			return append(t, '+')
		}
	}
	if *space && len(out) > 0 {
		out = append(out, ' ')
	}
	*space = false
	return append(out, '?')
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// indexFrom is the index of sep in q from i on, len(q) when absent.
func indexFrom(q []byte, i int, sep string) int {
	if i >= len(q) {
		return len(q)
	}
	if j := strings.Index(string(q[i:]), sep); j >= 0 {
		return i + j
	}
	return len(q)
}

// skipQuoted returns the index after the string quoted by q[i] (a
// backslash escapes, a doubled quote is one).
func skipQuoted(q []byte, i int) int {
	quote := q[i]
	for i++; i < len(q); i++ {
		switch q[i] {
		case '\\':
			i++
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(q)
}

// skipNumber returns the index after the number at q[i]: digits, a
// fraction, an exponent, or 0x and hex digits.
func skipNumber(q []byte, i int) int {
	if q[i] == '0' && i+1 < len(q) && q[i+1]|0x20 == 'x' {
		for i += 2; i < len(q) && isHex(q[i]); i++ {
		}
		return i
	}
	for i < len(q) && (isDigit(q[i]) || q[i] == '.') {
		i++
	}
	if i+1 < len(q) && q[i]|0x20 == 'e' && (isDigit(q[i+1]) || (q[i+1] == '+' || q[i+1] == '-') && i+2 < len(q) && isDigit(q[i+2])) {
		for i += 2; i < len(q) && isDigit(q[i]); i++ {
		}
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
func isIdent(c byte) bool {
	return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z' || c == '_' || c == '$' || c >= 0x80
}
