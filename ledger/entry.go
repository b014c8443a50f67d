// Package ledger writes the session ledger: one JSON line per finished
// replayed session, written by a background goroutine so that the session
// engine never waits for the disk, rotated by size.
package ledger

import (
	"encoding/json"
	"time"
)

// Entry is one finished session.
type Entry struct {
	Start, End time.Time
	Client     string // the (rewritten) client address:port the target saw
	Target     string // the target service address:port
	Original   string // the captured client address:port -> online service
	Copy       int    // copy index for N-fold multiplication
	Fate       string // replayed, target_reset, capture_gap, ...
	Requests   int    // requests released to the target
	Responses  int    // responses seen from the target
	BytesSent  uint64 // client payload bytes sent to the target
	BytesAcked uint64 // of those, acknowledged by the target
	// OnlineRTT is the online server's mean response time, estimated from
	// the captured client stream (request to the client's ACK of the
	// response, less the client's round trip); 0 when no response was
	// acknowledged on its own. TargetRTT is the target's mean response
	// time (request released to the first response byte reported).
	OnlineRTT time.Duration
	TargetRTT time.Duration
	// RespTimeMax is the longest target response time of the session.
	RespTimeMax time.Duration
	Detail      string // free text for unusual fates
	// Protocol figures, for routes with a protocol: the session's user
	// (MySQL), its statements (client commands) and how many of them the
	// online server and the target answered, and how many they answered
	// differently (class or packet count).
	User             string
	Statements       int
	StatementsOnline int
	StatementsTarget int
	StatementsDiffer int
}

// jsonEntry is the line format: snake_case keys, durations in
// milliseconds.
type jsonEntry struct {
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Client        string    `json:"client"`
	Target        string    `json:"target"`
	Original      string    `json:"original,omitempty"`
	Copy          int       `json:"copy,omitempty"`
	Fate          string    `json:"fate"`
	Requests      int       `json:"requests"`
	Responses     int       `json:"responses"`
	BytesSent     uint64    `json:"bytes_sent"`
	BytesAcked    uint64    `json:"bytes_acked"`
	OnlineRTTMs   float64   `json:"online_rtt_ms"`
	TargetRTTMs   float64   `json:"target_rtt_ms"`
	RespTimeMaxMs float64   `json:"resp_time_max_ms,omitempty"`
	Detail        string    `json:"detail,omitempty"`
	User          string    `json:"user,omitempty"`
	Statements    int       `json:"statements,omitempty"`
	StmtOnline    int       `json:"statements_online,omitempty"`
	StmtTarget    int       `json:"statements_target,omitempty"`
	StmtDiffer    int       `json:"statements_differ,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fromMs(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// MarshalJSON writes the line format.
func (e *Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonEntry{
		Start: e.Start, End: e.End, Client: e.Client, Target: e.Target, Original: e.Original,
		Copy: e.Copy, Fate: e.Fate, Requests: e.Requests, Responses: e.Responses,
		BytesSent: e.BytesSent, BytesAcked: e.BytesAcked,
		OnlineRTTMs: ms(e.OnlineRTT), TargetRTTMs: ms(e.TargetRTT), RespTimeMaxMs: ms(e.RespTimeMax),
		Detail: e.Detail, User: e.User, Statements: e.Statements,
		StmtOnline: e.StatementsOnline, StmtTarget: e.StatementsTarget, StmtDiffer: e.StatementsDiffer,
	})
}

// UnmarshalJSON reads the line format.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j jsonEntry
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry{
		Start: j.Start, End: j.End, Client: j.Client, Target: j.Target, Original: j.Original,
		Copy: j.Copy, Fate: j.Fate, Requests: j.Requests, Responses: j.Responses,
		BytesSent: j.BytesSent, BytesAcked: j.BytesAcked,
		OnlineRTT: fromMs(j.OnlineRTTMs), TargetRTT: fromMs(j.TargetRTTMs), RespTimeMax: fromMs(j.RespTimeMaxMs),
		Detail: j.Detail, User: j.User, Statements: j.Statements,
		StatementsOnline: j.StmtOnline, StatementsTarget: j.StmtTarget, StatementsDiffer: j.StmtDiffer,
	}
	return nil
}
