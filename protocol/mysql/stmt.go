package mysql

// prep is one COM_STMT_PREPARE on its way: the online and target answers
// arrive separately, in request order on each stream.
type prep struct {
	text                   string
	online, target         uint32
	haveOnline, haveTarget bool
	onlineFailed           bool // the online server answered ERR: the client never got an id
	partial                bool // text longer than one packet: not kept for re-prepares
}

type stmtState uint8

const (
	stmtKnown stmtState = iota
	stmtPending
	stmtUnknown
)

// maxStatements bounds the statement ids mapped per session.
const maxStatements = 1 << 14

// stmtMap maps the online server's statement ids to the target's.
type stmtMap struct {
	pending  []*prep
	byOnline map[uint32]uint32
}

func (m *stmtMap) prepare(text string) (*prep, error) {
	if len(m.pending) >= maxStatements {
		return nil, fatef(FateOverflow, "%d statements prepared and not answered", len(m.pending))
	}
	p := &prep{text: text}
	m.pending = append(m.pending, p)
	return p, nil
}

func (m *stmtMap) learnOnline(p *prep, ok bool, id uint32) {
	p.online, p.haveOnline, p.onlineFailed = id, true, !ok
	m.settle(p)
}

func (m *stmtMap) learnTarget(p *prep, ok bool, id uint32) {
	p.target, p.haveTarget = id, true
	if !ok {
		p.target = 0 // no such statement: the target answers the command with an ERR, as it should
	}
	m.settle(p)
}

// settle records p once both ids are known.
func (m *stmtMap) settle(p *prep) {
	if !p.haveOnline || !p.haveTarget {
		return
	}
	for i, q := range m.pending {
		if q == p {
			m.pending = append(m.pending[:i], m.pending[i+1:]...)
			break
		}
	}
	if p.onlineFailed {
		return
	}
	if m.byOnline == nil {
		m.byOnline = make(map[uint32]uint32)
	}
	if len(m.byOnline) >= maxStatements {
		for k := range m.byOnline { // drop an arbitrary one: the client leaks statements
			delete(m.byOnline, k)
			break
		}
	}
	m.byOnline[p.online] = p.target
}

// lookup is the target id of online id.
func (m *stmtMap) lookup(id uint32) (uint32, stmtState) {
	if t, ok := m.byOnline[id]; ok {
		return t, stmtKnown
	}
	for _, p := range m.pending {
		if !p.haveOnline || p.online == id {
			return 0, stmtPending
		}
	}
	return 0, stmtUnknown
}

func (m *stmtMap) close(id uint32) { delete(m.byOnline, id) }

// reset forgets every mapped statement (COM_RESET_CONNECTION,
// COM_CHANGE_USER); PREPAREs still on their way stay pending.
func (m *stmtMap) reset() { clear(m.byOnline) }

// lastStatement is MariaDB's statement id meaning "the one just prepared"
// (a PREPARE and EXECUTE sent in one go).
const lastStatement = 0xFFFFFFFF
