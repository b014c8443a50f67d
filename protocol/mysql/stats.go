package mysql

import (
	"sync/atomic"

	"github.com/replaygw/replaygw/counter"
)

// fateCodes lists every Fate code, in counter order.
var fateCodes = [...]string{
	FateTLS, FateCompress, FateUnknownPlugin, FateNoPassword, FateNoLogin,
	FateUnknownStatement, FateLocalInfile, FateAuthFailed, FateProtocol,
	FateOverflow, FateOldProtocol, FateCapabilities,
}

// Stats counts what the sessions of the routes sharing it did; one Stats
// is shared by every session (atomics only).
type Stats struct {
	Fates      [len(fateCodes)]atomic.Uint64 // by fateCodes index
	Sessions   atomic.Uint64                 // sessions opened with their login captured
	Resumed    atomic.Uint64                 // sessions opened without it (NewResumed)
	Logins     atomic.Uint64                 // logins (and COM_CHANGE_USERs) the target accepted
	StmtOnline atomic.Uint64                 // client commands the online server answered
	StmtTarget atomic.Uint64                 // client commands the target answered
	Differ     atomic.Uint64                 // commands answered in another class or packet count
}

// fate counts code (an unknown code counts as mysql_protocol).
func (st *Stats) fate(code string) {
	if st == nil {
		return
	}
	for i, c := range fateCodes {
		if c == code {
			st.Fates[i].Add(1)
			return
		}
	}
	st.Fates[fateIndex(FateProtocol)].Add(1)
}

func fateIndex(code string) int {
	for i, c := range fateCodes {
		if c == code {
			return i
		}
	}
	return -1
}

// Counters lists the counters with their metric names.
func (st *Stats) Counters() []counter.Metric {
	fates := counter.Of(nil, "mysql_fates_total", "MySQL sessions the protocol stopped replaying, by fate code")
	stmts := counter.Of(nil, "mysql_statements_total", "client commands answered, by the server that answered them")
	opened := counter.Of(nil, "mysql_sessions_total", "MySQL sessions opened, by how they start")
	c := []counter.Metric{
		opened.At(&st.Sessions).With("start", "login"),
		opened.At(&st.Resumed).With("start", "resumed"),
		counter.Of(&st.Logins, "mysql_logins_total", "logins and COM_CHANGE_USERs the target accepted"),
		stmts.At(&st.StmtOnline).With("side", "online"),
		stmts.At(&st.StmtTarget).With("side", "target"),
		counter.Of(&st.Differ, "mysql_answers_differ_total", "client commands the target answered in another class (OK, ERR, rows, prepared) or packet count than the online server"),
	}
	for i, code := range fateCodes {
		c = append(c, fates.At(&st.Fates[i]).With("code", code))
	}
	return c
}

// Counts are one session's figures for its ledger line.
type Counts struct {
	User       string // the login's user ("" before the login)
	Resumed    bool   // the session started before the capture
	Statements int    // client commands seen
	Online     int    // of those, answered by the online server
	Target     int    // of those, answered by the target
	Differ     int    // answered by both, differently (class or packet count)
}

// Counts returns the session's figures so far.
func (s *Session) Counts() Counts {
	c := s.counts
	if s.login != nil {
		c.User = s.login.User
	}
	c.Resumed = s.resumed
	return c
}
