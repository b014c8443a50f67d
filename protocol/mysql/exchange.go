package mysql

// These mirror package protocol's types (engine branch, protocol/protocol.go)
// so that this package builds before the interface lands on main; the
// adapter in adapter.go is the only place that will change.

// Needs says which streams a Session reads.
type Needs uint8

const (
	NeedsClient Needs = 1 << iota
	NeedsOnline
	NeedsTarget
)

// Mark reports message boundaries in the bytes just handed over.
type Mark uint8

const (
	RequestStart Mark = 1 << iota
	ResponseComplete
)

// Exchange is one request and its responses.
type Exchange struct {
	Request     int
	Kind        string
	ClientBytes int
	TargetIn    int
	OnlineBytes int
	TargetBytes int
	Same        bool
}

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
