package mysql

import "github.com/replaygw/replaygw/protocol"

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
	n                      int
	cmd                    byte
	clientBytes, targetIn  int
	onlineBytes            int
	targetBytes            int
	onlClass, tgtClass     byte
	onlPackets, tgtPackets int
	onlDone, tgtDone       bool
}

// Exchange takes the oldest request the target has answered. Same: the
// online server answered too, in the same class (OK, ERR, rows, prepared)
// and with as many packets.
func (s *Session) Exchange(x *Exchange) bool {
	if len(s.recs) == 0 || !s.recs[0].tgtDone {
		return false
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	*x = Exchange{
		Request: r.n, Kind: commandName(r.cmd),
		ClientBytes: r.clientBytes, TargetIn: r.targetIn,
		OnlineBytes: r.onlineBytes, TargetBytes: r.targetBytes,
		Same: r.onlDone && r.onlClass == r.tgtClass && r.onlPackets == r.tgtPackets,
	}
	return true
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
