package mysql

import (
	"encoding/json"
	"strings"

	"github.com/replaygw/replaygw/protocol"
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

// Exchange takes the oldest request the target has answered. Same: the
// online server answered too, in the same class (OK, ERR, rows, prepared)
// and with as many packets. On a route that compares, RequestData is the
// command's payload and OnlineData and TargetData are each side's
// compare.MySQLResult as JSON (DecodeResult reads them).
func (s *Session) Exchange(x *Exchange) bool {
	if len(s.recs) == 0 || !s.recs[0].tgt.done {
		return false
	}
	r := s.recs[0]
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

// endpointKey is the report's endpoint of a command: the statement's
// first word, upper case ("SELECT"), for COM_QUERY and COM_STMT_PREPARE.
func endpointKey(cmd byte, p []byte) string {
	if cmd != comQuery && cmd != comStmtPrepare || len(p) < 2 {
		return ""
	}
	q := p[1:]
	i := 0
	for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r' || q[i] == '(') {
		i++
	}
	j := i
	for j < len(q) && j-i < 16 && (q[j]|0x20 >= 'a' && q[j]|0x20 <= 'z') {
		j++
	}
	return strings.ToUpper(string(q[i:j]))
}
