package mysql

import (
	"encoding/binary"

	"github.com/replaygw/replaygw/protocol"
)

// Config is what a Session needs besides the streams.
type Config struct {
	Users      *Users // target passwords by user name (required)
	Store      *Store // optional: remembers logins and statement texts
	ClientAddr string // the session's client address, the Store key
	MaxHeld    int    // bound on client bytes held while waiting; 0: DefaultMaxHeld
	Stats      *Stats // optional: counters shared by the route's sessions
	// Compare: the route is compared; Exchanges carry payloads (see
	// Session.Exchange) and result sets are digested. Keep bounds the
	// request payload kept (0: protocol.DefaultKeep).
	Compare bool
	Keep    int
}

// DefaultMaxHeld bounds the client bytes a Session holds back while it
// waits for the target (greeting, auth, a statement id): one full packet
// and 1 MB more.
const DefaultMaxHeld = headerLen + maxPayload + 1<<20

type phase uint8

const (
	phaseGreeting phase = iota // target/online: greeting not seen
	phaseLogin                 // target: greeting seen, our login not sent
	phaseAuth                  // login or COM_CHANGE_USER sent, answer pending
	phaseCommand
)

// authState is the target's current auth exchange.
type authState struct {
	plugin   string
	scramble []byte
	wantKey  bool // caching_sha2 full auth: public key requested
	rec      *record
}

// expect is one response a server stream owes.
type expect struct {
	cmd  byte
	prep *prep   // COM_STMT_PREPARE: the statement being learnt
	rec  *record // nil: inserted by the Session, invisible to pacing
}

// stream is one server's response side.
type stream struct {
	f       framer
	ph      phase
	cont    bool
	q       []expect
	r       response
	started bool
	caps    uint32
	// cacheMeta: MARIADB_CLIENT_CACHE_METADATA holds on this stream (the
	// online one: both the client and the online server declared it; the
	// target never, the Session clears it from the login it sends).
	cacheMeta bool
}

// flags are the response encoding the stream negotiated.
func (st *stream) flags() respFlags {
	return respFlags{deprecateEOF: st.caps&capDeprecateEOF != 0, cacheMeta: st.cacheMeta}
}

// Session is one replayed MySQL session (not safe for concurrent use, as
// the engine's contract says).
type Session struct {
	cfg  Config
	fate *Fate

	cli     framer
	cliCont bool
	cliAuth bool // dropping the client's auth continuation packets

	target, online stream
	greeting       *Greeting
	login          *Login // as received from the client (or restored)
	password       string
	resumed        bool
	auth           authState

	stmts stmtMap
	recs  []*record

	base   int   // len(out) when the current call began
	starts []int // where requests begin in this call's output
	nreq   int

	onlineCaps uint32  // the online server's greeting capabilities, 0 if unseen
	onlineExt  uint32  // its MariaDB extended capabilities
	loginRec   *record // the captured login, until the online server answers it
	onlLogin   byte    // the online server's answer class to the login, once seen
	onlLoginN  int     // its bytes

	cliAt, onlAt, tgtAt int64  // when the packet in hand on each stream arrived
	counts              Counts // for the ledger (Counts)
	tgtAnswered         int    // requests (the login included) the target answered (Answered)
	onlBuf, tgtBuf      []byte // the last Exchange's result payloads
	onlineEnd           bool   // the online stream ended: Exchange waits for none of its answers
}

// New returns a Session for a session whose login is in the capture.
func New(cfg Config) *Session {
	if cfg.MaxHeld <= 0 {
		cfg.MaxHeld = DefaultMaxHeld
	}
	if cfg.Keep <= 0 {
		cfg.Keep = protocol.DefaultKeep
	}
	return &Session{cfg: cfg}
}

// Needs: the Session reads all three streams.
func (s *Session) Needs() Needs { return NeedsClient | NeedsOnline | NeedsTarget }

// RequestOffsets are the offsets, in the bytes the last Client, Online or
// Target call appended, where client requests begin (one RequestStart may
// cover several pipelined requests). Inserted bytes (auth answers,
// re-prepares, the resumed login) start no request. Valid until the next
// call.
func (s *Session) RequestOffsets() []int { return s.starts }

// Answered counts the requests (the captured login, each client command)
// the target has answered completely or that have no answer: a MySQL
// server answers a connection's commands one by one in order, so the
// engine pipelines them (protocol.Pipeliner).
func (s *Session) Answered() int { return s.tgtAnswered }

// Holding reports that the Session still owes the target client bytes:
// complete client packets held back (waiting for the target's greeting,
// its login answer or a statement id), or an auth exchange in progress
// that the Session answers for the client. The engine keeps the client's
// FIN from the target meanwhile.
func (s *Session) Holding() bool {
	if s.fate != nil {
		return false
	}
	if _, ok := s.cli.peek(); ok {
		return true
	}
	return s.target.ph == phaseAuth || (len(s.target.q) > 0 && s.target.q[0].cmd == comChangeUser)
}

// Fate is why the session stopped being replayable, or nil.
func (s *Session) Fate() *Fate { return s.fate }

// End: a stream ended. MySQL frames every message, so nothing completes
// at the end of a stream; once the online one ended, Exchange waits for
// none of its answers.
func (s *Session) End(out []byte, side protocol.Side, at int64) ([]byte, Mark) {
	s.onlineEnd = s.onlineEnd || side == protocol.SideOnline
	return out, 0
}

func (s *Session) fail(err error) {
	if s.fate != nil {
		return
	}
	f, ok := err.(*Fate)
	if !ok {
		f = &Fate{Code: FateProtocol, Detail: err.Error()}
	}
	s.fate = f
	s.cfg.Stats.fate(f.Code)
}

// Client takes captured client bytes and appends what the target must
// receive.
func (s *Session) Client(out, p []byte, at int64) ([]byte, Mark) {
	s.base, s.starts, s.cliAt = len(out), s.starts[:0], at
	if s.fate != nil {
		return out, 0
	}
	s.cli.pushAt(p, at)
	var m Mark
	out = s.drain(out, &m)
	return out, m
}

// Online takes online server response bytes. Released client bytes (held
// for an online statement id) are appended to out. Responses to commands
// the Session still holds wait in the online buffer until the command is
// released, so both streams match their requests in order.
func (s *Session) Online(out, p []byte, at int64) ([]byte, Mark) {
	s.base, s.starts, s.onlAt = len(out), s.starts[:0], at
	if s.fate != nil {
		return out, 0
	}
	s.online.f.pushAt(p, at)
	var m Mark
	out = s.drain(out, &m)
	return out, m
}

// pumpOnline follows the online packets whose request is known.
func (s *Session) pumpOnline() {
	o := &s.online
	for s.fate == nil && (o.ph != phaseCommand || len(o.q) > 0 || o.cont) {
		if o.ph == phaseAuth && s.login == nil && !s.resumed {
			break // the online login's answer sets the stream's capabilities from the client's login, held for the target's greeting
		}
		raw, ok := o.f.peek()
		if !ok {
			break
		}
		s.onlAt = o.f.at() // a packet held for its request keeps its capture time
		o.f.next(raw)
		s.onlinePacket(raw)
	}
	if s.fate == nil && o.f.held() > s.cfg.MaxHeld {
		s.fail(fatef(FateOverflow, "%d online bytes held", o.f.held()))
	}
}

// Target takes target response bytes and appends the client bytes the
// Session inserts (auth answers) or releases (held commands).
func (s *Session) Target(out, p []byte, at int64) ([]byte, Mark) {
	s.base, s.starts, s.tgtAt = len(out), s.starts[:0], at
	if s.fate != nil {
		return out, 0
	}
	s.target.f.pushAt(p, at)
	var m Mark
	for s.fate == nil {
		raw, ok := s.target.f.peek()
		if !ok {
			break
		}
		s.tgtAt = s.target.f.at()
		s.target.f.next(raw)
		out = s.targetPacket(out, raw, &m)
	}
	out = s.drain(out, &m)
	return out, m
}

// drain processes the complete client packets that are not blocked and
// the online packets they make expected, until neither advances (an
// online PREPARE_OK may release a held command).
func (s *Session) drain(out []byte, m *Mark) []byte {
	for s.fate == nil {
		s.pumpOnline()
		progress := false
		for s.fate == nil {
			raw, ok := s.cli.peek()
			if !ok {
				break
			}
			s.cliAt = s.cli.at() // a command held for the target's login keeps its capture time
			var done bool
			out, done = s.clientPacket(out, raw, m)
			if !done {
				break
			}
			s.cli.next(raw)
			progress = true
		}
		if !progress {
			break
		}
	}
	if s.fate == nil && s.cli.held() > s.cfg.MaxHeld {
		s.fail(fatef(FateOverflow, "%d client bytes held", s.cli.held()))
	}
	return out
}

// clientPacket handles one client packet; false: blocked, keep it.
func (s *Session) clientPacket(out, raw []byte, m *Mark) ([]byte, bool) {
	if s.cliCont {
		s.cliCont = pktFull(raw)
		return append(out, raw...), true
	}
	if s.login == nil && !s.resumed {
		if s.greeting == nil {
			return out, false
		}
		return s.clientLogin(out, raw, m), true
	}
	if pktSeq(raw) != 0 {
		if s.cliAuth {
			return out, true // the client's answer to an online auth challenge
		}
		s.cliCont = pktFull(raw)
		return append(out, raw...), true
	}
	if s.target.ph != phaseCommand {
		return out, false // the target's login is not through yet
	}
	out, done := s.command(out, raw, m)
	if done {
		s.cliAuth = false
		s.cliCont = pktFull(raw) // set only once the packet is through: a held one comes back here
	}
	return out, done
}

// command handles the first packet of a client command.
func (s *Session) command(out, raw []byte, m *Mark) ([]byte, bool) {
	p := pktPayload(raw)
	if len(p) == 0 {
		return append(out, raw...), true
	}
	switch cmd := p[0]; cmd {
	case comChangeUser:
		return s.changeUser(out, raw, m), true
	case comStmtExecute, comStmtSendLong, comStmtClose, comStmtReset, comStmtFetch, comStmtBulk:
		return s.stmtCommand(out, raw, m)
	case comStmtPrepare:
		pr, err := s.stmts.prepare(string(p[1:]))
		if err != nil {
			s.fail(err)
			return out, true
		}
		pr.partial = pktFull(raw) // the text continues in the next packet: not saved
		rec := s.request(cmd, raw, len(out), len(raw), m)
		s.expect(expect{cmd: cmd, prep: pr, rec: rec}, true)
		return append(out, raw...), true
	default:
		if cmd == comResetConn {
			s.stmts.reset() // both servers drop every statement
		}
		rec := s.request(cmd, raw, len(out), len(raw), m)
		if !noResponse(cmd) {
			s.expect(expect{cmd: cmd, rec: rec}, true)
		} else {
			s.noAnswer(rec)
		}
		return append(out, raw...), true
	}
}

// request starts the record of a request the client sent, whose bytes
// begin at offset at of the output.
func (s *Session) request(cmd byte, raw []byte, at, sent int, m *Mark) *record {
	*m |= RequestStart
	if len(s.starts) < maxPending {
		s.starts = append(s.starts, at-s.base)
	}
	r := &record{n: s.nreq, cmd: cmd, clientBytes: len(raw), targetIn: sent, sent: s.cliAt}
	s.nreq++
	if cmd != 0 {
		s.counts.Statements++
	}
	if s.cfg.Compare && cmd != 0 {
		p := pktPayload(raw)
		r.req = append([]byte(nil), p[:min(len(p), s.cfg.Keep)]...)
		r.key = endpointKey(cmd, p)
	}
	if len(s.recs) < maxRecords {
		s.recs = append(s.recs, r)
	}
	return r
}

// maxPending bounds the responses a stream may owe.
const maxPending = 4096

// maxRecords bounds the exchanges waiting for the engine to take them.
const maxRecords = 1024

// expect queues a response on the target and, for client requests, the
// online server.
func (s *Session) expect(e expect, online bool) {
	if len(s.target.q) >= maxPending {
		s.fail(fatef(FateOverflow, "%d requests without a target response", len(s.target.q)))
		return
	}
	s.target.q = append(s.target.q, e)
	if online && s.online.ph != phaseGreeting && len(s.online.q) < maxPending {
		s.online.q = append(s.online.q, e)
	}
}

// clientLogin rebuilds the client's HandshakeResponse41 for the target.
func (s *Session) clientLogin(out, raw []byte, m *Mark) []byte {
	p := pktPayload(raw)
	if isSSLRequest(p) {
		s.fail(fatef(FateTLS, "client sent SSLRequest"))
		return out
	}
	l, err := ParseLogin(p)
	if err != nil {
		s.fail(err)
		return out
	}
	s.login = l
	if s.cfg.Store != nil {
		s.cfg.Store.SaveLogin(s.cfg.ClientAddr, l)
	}
	n := len(out)
	out = s.sendLogin(out, l, pktSeq(raw))
	if s.fate == nil {
		s.auth.rec = s.request(0, raw, n, len(out)-n, m)
		s.loginRec = s.auth.rec
		s.settleOnlineLogin()
		s.cliAuth = true
	}
	return out
}

// sendLogin appends l re-signed for the target.
func (s *Session) sendLogin(out []byte, l *Login, seq byte) []byte {
	if l.Capabilities&(capCompress|capZstd) != 0 {
		s.fail(fatef(FateCompress, "user %q asked for compression", l.User))
		return out
	}
	pw, ok := s.cfg.Users.Password(l.User)
	if !ok {
		s.fail(fatef(FateNoPassword, "user %q", l.User))
		return out
	}
	if err := s.checkCapabilities(l); err != nil {
		s.fail(err)
		return out
	}
	s.password = pw
	t := *l
	if ext := l.extCaps(); ext != 0 { // MariaDB client: responses only, safe to clear
		binary.LittleEndian.PutUint32(t.Filler[19:], ext&^extCacheMetadata)
	}
	plugin := l.plugin()
	auth, err := authResponse(plugin, s.greeting.Scramble, pw)
	if err != nil {
		s.fail(err)
		return out
	}
	t.AuthResponse = auth
	payload, err := t.AppendLogin(nil)
	if err != nil {
		s.fail(err)
		return out
	}
	s.auth = authState{plugin: plugin, scramble: s.greeting.Scramble}
	s.target.ph = phaseAuth
	s.target.caps = l.Capabilities & s.greeting.Capabilities
	if s.online.ph == phaseGreeting && !s.resumed {
		s.online.caps = l.Capabilities
	}
	return appendPacket(out, seq, payload)
}

// changeUser re-signs a COM_CHANGE_USER for the target.
func (s *Session) changeUser(out, raw []byte, m *Mark) []byte {
	caps := s.target.caps
	c, err := ParseChangeUser(caps, pktPayload(raw))
	if err != nil {
		s.fail(err)
		return out
	}
	pw, ok := s.cfg.Users.Password(c.User)
	if !ok {
		s.fail(fatef(FateNoPassword, "user %q (COM_CHANGE_USER)", c.User))
		return out
	}
	plugin := c.Plugin
	if caps&capPluginAuth == 0 || plugin == "" {
		plugin = pluginNative
	}
	if c.AuthResponse, err = authResponse(plugin, s.greeting.Scramble, pw); err != nil {
		s.fail(err)
		return out
	}
	payload, err := c.AppendChangeUser(nil, caps)
	if err != nil {
		s.fail(err)
		return out
	}
	s.password = pw
	s.stmts.reset() // a COM_CHANGE_USER drops the session's statements
	n := len(out)
	out = appendPacket(out, 0, payload)
	rec := s.request(comChangeUser, raw, n, len(out)-n, m)
	s.auth = authState{plugin: plugin, scramble: s.greeting.Scramble, rec: rec}
	s.cliAuth = true
	s.expect(expect{cmd: comChangeUser, rec: rec}, true)
	return out
}

// stmtCommand rewrites the statement id of a COM_STMT_* command.
func (s *Session) stmtCommand(out, raw []byte, m *Mark) ([]byte, bool) {
	p := pktPayload(raw)
	if len(p) < 5 {
		s.fail(fatef(FateProtocol, "command 0x%02x: %d bytes", p[0], len(p)))
		return out, true
	}
	cmd, id := p[0], binary.LittleEndian.Uint32(p[1:])
	tid, st := s.stmts.lookup(id)
	if id == lastStatement {
		tid, st = id, stmtKnown // MariaDB: the statement prepared just before, on either server
	}
	switch st {
	case stmtPending:
		return out, false
	case stmtUnknown:
		return s.reprepare(out, id)
	}
	n := len(out)
	out = append(out, raw...)
	binary.LittleEndian.PutUint32(out[n+headerLen+1:], tid)
	rec := s.request(cmd, raw, n, len(raw), m)
	if cmd == comStmtClose {
		s.stmts.close(id)
	}
	if noResponse(cmd) {
		s.noAnswer(rec)
	} else {
		s.expect(expect{cmd: cmd, rec: rec}, true)
	}
	return out, true
}

// reprepare inserts a COM_STMT_PREPARE for a statement prepared before the
// capture, when its text is known; the command waits for the target's id.
func (s *Session) reprepare(out []byte, id uint32) ([]byte, bool) {
	text, ok := "", false
	if s.cfg.Store != nil {
		text, ok = s.cfg.Store.Statement(s.cfg.ClientAddr, id)
	}
	if !ok {
		s.fail(fatef(FateUnknownStatement, "statement id %d", id))
		return out, true
	}
	pr, err := s.stmts.prepare(text)
	if err != nil {
		s.fail(err)
		return out, true
	}
	pr.online, pr.haveOnline = id, true
	payload := append([]byte{comStmtPrepare}, text...)
	out = appendPacket(out, 0, payload)
	s.expect(expect{cmd: comStmtPrepare, prep: pr}, false)
	return out, false
}

// targetPacket handles one target packet.
func (s *Session) targetPacket(out, raw []byte, m *Mark) []byte {
	t := &s.target
	if t.cont {
		t.cont = pktFull(raw)
		return out
	}
	t.cont = pktFull(raw)
	p := pktPayload(raw)
	switch t.ph {
	case phaseGreeting:
		g, err := ParseGreeting(p)
		if err != nil {
			s.fail(err)
			return out
		}
		s.greeting, t.ph = g, phaseLogin
		if s.resumed {
			out = s.sendLogin(out, s.login, 1)
		}
		return out
	case phaseLogin:
		s.fail(fatef(FateProtocol, "target sent %d bytes before the login: %s", len(p), errMessage(p)))
		return out
	case phaseAuth:
		return s.targetAuth(out, raw, m)
	}
	if len(t.q) == 0 {
		return out // unsolicited (a server's goodbye ERR): nothing waits for it
	}
	e := t.q[0]
	if e.rec != nil {
		e.rec.tgt.add(raw, s.tgtAt)
	}
	if e.cmd == comChangeUser {
		return s.targetAuth(out, raw, m)
	}
	if !t.started {
		t.r.start(e.cmd, t.flags(), s.cfg.Compare)
		t.started = true
	}
	done, err := t.r.packet(p)
	if err != nil {
		s.fail(err)
		return out
	}
	if done {
		t.q, t.started = t.q[1:], false
		if e.prep != nil {
			s.stmts.learnTarget(e.prep, t.r.prepared, t.r.stmtID)
		}
		if e.rec != nil {
			e.rec.tgt.finish(&t.r)
			s.answered(e.rec, protocol.SideTarget)
			*m |= ResponseComplete
		}
	}
	return out
}

// targetAuth answers the target's auth challenges.
func (s *Session) targetAuth(out, raw []byte, m *Mark) []byte {
	p, seq := pktPayload(raw), pktSeq(raw)
	if len(p) == 0 {
		s.fail(fatef(FateProtocol, "empty auth packet"))
		return out
	}
	a := &s.auth
	if a.rec != nil && s.target.ph == phaseAuth {
		a.rec.tgt.add(raw, s.tgtAt)
	}
	switch p[0] {
	case 0x00:
		if s.target.ph == phaseCommand {
			s.target.q = s.target.q[1:] // the COM_CHANGE_USER answered
		}
		s.target.ph = phaseCommand
		if s.cfg.Stats != nil {
			s.cfg.Stats.Logins.Add(1)
		}
		if a.rec != nil {
			a.rec.tgt.done, a.rec.tgt.class = true, classOK
			s.answered(a.rec, protocol.SideTarget)
			*m |= ResponseComplete
		}
		*a = authState{}
	case 0xFF:
		s.fail(fatef(FateAuthFailed, "target: %s", errMessage(p)))
	case authSwitchReq:
		name, data, ok := readNul(p[1:])
		if !ok {
			s.fail(fatef(FateUnknownPlugin, "old-password auth switch"))
			return out
		}
		if string(name) != pluginEd25519 && len(data) > 0 && data[len(data)-1] == 0 {
			data = data[:len(data)-1] // a scramble's terminator; an ed25519 nonce has none
		}
		a.plugin, a.scramble = string(name), append([]byte(nil), data...)
		resp, err := authResponse(a.plugin, a.scramble, s.password)
		if err != nil {
			s.fail(err)
			return out
		}
		out = appendPacket(out, seq+1, resp)
	case authMoreData:
		switch {
		case a.plugin == pluginSHA2 && len(p) == 2 && p[1] == sha2FastOK:
		case a.plugin == pluginSHA2 && len(p) == 2 && p[1] == sha2FullAuth:
			a.wantKey = true
			out = appendPacket(out, seq+1, []byte{sha2RequestKey})
		case a.plugin == pluginSHA2 && a.wantKey:
			enc, err := sha2FullAuthPayload(p[1:], a.scramble, s.password)
			if err != nil {
				s.fail(fatef(FateProtocol, "caching_sha2_password full auth: %v", err))
				return out
			}
			a.wantKey = false
			out = appendPacket(out, seq+1, enc)
		default:
			s.fail(fatef(FateUnknownPlugin, "auth data for %q", a.plugin))
		}
	default:
		s.fail(fatef(FateProtocol, "auth packet 0x%02x", p[0]))
	}
	return out
}

// onlinePacket follows the online server's responses.
func (s *Session) onlinePacket(raw []byte) {
	o := &s.online
	if o.cont {
		o.cont = pktFull(raw)
		return
	}
	o.cont = pktFull(raw)
	p := pktPayload(raw)
	if len(p) == 0 {
		return
	}
	switch o.ph {
	case phaseGreeting:
		if g, err := ParseGreeting(p); err == nil {
			o.caps, s.onlineCaps, s.onlineExt = g.Capabilities, g.Capabilities, g.ExtCaps
		}
		o.ph = phaseAuth
		return
	case phaseAuth, phaseLogin:
		s.onlLoginN += len(raw)
		if p[0] == 0x00 || p[0] == 0xFF {
			s.onlLogin = classOK
			if p[0] == 0xFF {
				s.onlLogin = classErr
			}
			s.settleOnlineLogin()
			o.ph = phaseCommand
			if s.login != nil {
				o.caps &= s.login.Capabilities
				o.cacheMeta = s.login.extCaps()&s.onlineExt&extCacheMetadata != 0
			}
		}
		return
	}
	if len(o.q) == 0 {
		return
	}
	e := o.q[0]
	if e.rec != nil {
		e.rec.onl.add(raw, s.onlAt)
	}
	var done bool
	if e.cmd == comChangeUser {
		done = p[0] == 0x00 || p[0] == 0xFF
		o.r.class = classOK
	} else {
		if !o.started {
			o.r.start(e.cmd, o.flags(), s.cfg.Compare)
			o.started = true
		}
		var err error
		if done, err = o.r.packet(p); err != nil {
			o.q, o.started = nil, false // lost track of the online stream; ids no longer learnt
			return
		}
	}
	if done {
		o.q, o.started = o.q[1:], false
		if e.prep != nil {
			s.stmts.learnOnline(e.prep, o.r.prepared, o.r.stmtID)
			if o.r.prepared && !e.prep.partial && s.cfg.Store != nil {
				s.cfg.Store.SaveStatement(s.cfg.ClientAddr, o.r.stmtID, e.prep.text)
			}
		}
		if e.rec != nil {
			e.rec.onl.finish(&o.r)
			s.answered(e.rec, protocol.SideOnline)
		}
	}
}

// settleOnlineLogin completes the login record's online side once both the
// record and the online answer exist.
func (s *Session) settleOnlineLogin() {
	if r := s.loginRec; r != nil && s.onlLogin != 0 {
		r.onl.done, r.onl.class, r.onl.bytes = true, s.onlLogin, s.onlLoginN
		r.onl.first, r.onl.last = s.onlAt, s.onlAt
		s.loginRec = nil
	}
}

// checkCapabilities refuses a login whose commands or responses the target
// would encode differently from the online server: CLIENT_QUERY_ATTRIBUTES
// negotiated on one side only changes every COM_QUERY, and
// CLIENT_OPTIONAL_RESULTSET_METADATA lets result sets drop the column
// definitions that the response boundaries are found by.
func (s *Session) checkCapabilities(l *Login) error {
	tgt := l.Capabilities & s.greeting.Capabilities
	if tgt&capOptionalMetadata != 0 {
		return fatef(FateCapabilities, "CLIENT_OPTIONAL_RESULTSET_METADATA")
	}
	if s.onlineCaps != 0 {
		onl := l.Capabilities & s.onlineCaps
		if (onl^tgt)&capQueryAttributes != 0 {
			return fatef(FateCapabilities, "CLIENT_QUERY_ATTRIBUTES negotiated by one server only")
		}
	}
	return nil
}

// answered counts a client command the server on side has answered; once
// both have, whether they answered alike.
func (s *Session) answered(r *record, side protocol.Side) {
	if side == protocol.SideTarget {
		s.tgtAnswered++
	}
	if r.cmd == 0 {
		return // the login: not a statement
	}
	st := s.cfg.Stats
	if side == protocol.SideOnline {
		s.counts.Online++
		if st != nil {
			st.StmtOnline.Add(1)
		}
	} else {
		s.counts.Target++
		if st != nil {
			st.StmtTarget.Add(1)
		}
	}
	if r.onl.done && r.tgt.done && !r.same() {
		s.counts.Differ++
		if st != nil {
			st.Differ.Add(1)
		}
	}
}

// noAnswer completes a command neither server answers (COM_QUIT,
// COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA): both sides are through.
func (s *Session) noAnswer(r *record) {
	r.onl.done, r.tgt.done = true, true
	s.answered(r, protocol.SideOnline)
	s.answered(r, protocol.SideTarget)
}
