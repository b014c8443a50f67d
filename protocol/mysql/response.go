package mysql

import "encoding/binary"

// Command bytes used here.
const (
	comQuit           = 0x01
	comInitDB         = 0x02
	comQuery          = 0x03
	comFieldList      = 0x04
	comStatistics     = 0x09
	comChangeUser     = 0x11
	comBinlogDump     = 0x12
	comRegisterSlave  = 0x15
	comStmtPrepare    = 0x16
	comStmtExecute    = 0x17
	comStmtSendLong   = 0x18
	comStmtClose      = 0x19
	comStmtReset      = 0x1A
	comStmtFetch      = 0x1C
	comResetConn      = 0x1F
	comStmtBulk       = 0xFA // MariaDB COM_STMT_BULK_EXECUTE
	comBinlogDumpGTID = 0x1E
)

// noResponse reports commands the server does not answer.
func noResponse(cmd byte) bool {
	return cmd == comStmtSendLong || cmd == comStmtClose || cmd == comQuit
}

// Response classes, for comparing the online and target answers.
const (
	classOK byte = iota + 1
	classErr
	classRows
	classPrepared
	classOther
)

type respState uint8

const (
	rsFirst respState = iota
	rsColumns
	rsColumnsEOF
	rsRows
	rsPrepParams
	rsPrepParamsEOF
	rsPrepColumns
	rsPrepColumnsEOF
	rsUntilEOF
)

// response finds where one command's response ends in a server stream.
type response struct {
	cmd          byte
	deprecateEOF bool
	cacheMeta    bool // MARIADB_CLIENT_CACHE_METADATA negotiated: column counts carry a metadata-follows byte
	st           respState
	n            uint64 // definitions left
	cols         uint64 // prepare: column count
	class        byte
	packets      int
	stmtID       uint32 // PREPARE_OK statement id
	prepared     bool
	res          result
	hash         bool // keep res.digest (the route compares)
}

// respFlags are what a stream's negotiated capabilities change in its
// responses.
type respFlags struct {
	deprecateEOF bool // CLIENT_DEPRECATE_EOF
	cacheMeta    bool // MARIADB_CLIENT_CACHE_METADATA on both sides
}

func (r *response) start(cmd byte, f respFlags, hash bool) {
	*r = response{cmd: cmd, deprecateEOF: f.deprecateEOF, cacheMeta: f.cacheMeta, hash: hash}
}

// data is a column definition or a row: counted (rows) and digested.
func (r *response) data(p []byte, row bool) {
	if row {
		r.res.rows++
	}
	if r.hash {
		r.res.hash(p, row)
	}
}

// isEOF reports an EOF packet, or the OK packet that replaces it under
// CLIENT_DEPRECATE_EOF.
func (r *response) isEOF(p []byte) bool {
	if len(p) == 0 || p[0] != 0xFE {
		return false
	}
	if r.deprecateEOF {
		return len(p) < maxPayload
	}
	return len(p) < 9
}

// eofStatus is the status of an EOF packet or of an OK packet.
func eofStatus(p []byte) uint16 {
	if len(p) == 5 && p[0] == 0xFE { // classic EOF: header, warnings, status
		return binary.LittleEndian.Uint16(p[3:])
	}
	return okStatus(p)
}

// okStatus is the status of an OK packet (0x00 or 0xFE header).
func okStatus(p []byte) uint16 {
	if len(p) < 1 {
		return 0
	}
	b := p[1:]
	for range 2 { // affected rows, last insert id
		_, n, ok := readLenenc(b)
		if !ok {
			return 0
		}
		b = b[n:]
	}
	if len(b) < 2 {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

// packet feeds one response packet payload; done is true when it ended the
// response. A LOCAL INFILE request returns a fate.
func (r *response) packet(p []byte) (done bool, err error) {
	r.packets++
	if len(p) == 0 {
		return false, fatef(FateProtocol, "empty response packet to command 0x%02x", r.cmd)
	}
	switch r.st {
	case rsFirst:
		return r.first(p)
	case rsColumns:
		r.data(p, false)
		if r.n--; r.n == 0 {
			r.st = rsColumnsEOF
			if r.deprecateEOF {
				r.st = rsRows
			}
		}
	case rsColumnsEOF:
		if !r.isEOF(p) {
			return false, fatef(FateProtocol, "no EOF after column definitions")
		}
		if r.cmd == comStmtExecute && eofStatus(p)&statusCursorExists != 0 {
			return true, nil
		}
		r.st = rsRows
	case rsRows:
		if p[0] == 0xFF {
			r.res.errCode = errCodeOf(p)
			return true, nil
		}
		if r.isEOF(p) {
			if eofStatus(p)&statusMoreResults != 0 {
				r.st = rsFirst
				return false, nil
			}
			return true, nil
		}
		r.data(p, true)
	case rsPrepParams:
		if r.n--; r.n == 0 {
			if !r.deprecateEOF {
				r.st = rsPrepParamsEOF
				return false, nil
			}
			return r.prepColumns(), nil
		}
	case rsPrepParamsEOF:
		return r.prepColumns(), nil
	case rsPrepColumns:
		if r.n--; r.n == 0 {
			if !r.deprecateEOF {
				r.st = rsPrepColumnsEOF
				return false, nil
			}
			return true, nil
		}
	case rsPrepColumnsEOF:
		return true, nil
	case rsUntilEOF:
		if p[0] == 0xFF || r.isEOF(p) {
			return true, nil
		}
		r.data(p, false)
	}
	return false, nil
}

func (r *response) prepColumns() bool {
	if r.cols == 0 {
		return true
	}
	r.st, r.n = rsPrepColumns, r.cols
	return false
}

func (r *response) first(p []byte) (bool, error) {
	if p[0] == 0xFF {
		r.class, r.res.errCode = classErr, errCodeOf(p)
		return true, nil
	}
	switch r.cmd {
	case comStmtPrepare:
		if p[0] != 0x00 || len(p) < 12 {
			return false, fatef(FateProtocol, "bad COM_STMT_PREPARE response")
		}
		r.class, r.prepared = classPrepared, true
		r.stmtID = binary.LittleEndian.Uint32(p[1:])
		r.cols = uint64(binary.LittleEndian.Uint16(p[5:]))
		r.res.cols = int(r.cols)
		params := uint64(binary.LittleEndian.Uint16(p[7:]))
		if params > 0 {
			r.st, r.n = rsPrepParams, params
			return false, nil
		}
		return r.prepColumns(), nil
	case comQuery, comStmtExecute, comStmtBulk:
		switch p[0] {
		case 0x00:
			if r.class == 0 {
				r.class = classOK
			}
			r.res.affected += affectedOf(p)
			return okStatus(p)&statusMoreResults == 0, nil
		case 0xFB:
			return false, fatef(FateLocalInfile, "LOAD DATA LOCAL INFILE request")
		}
		n, used, ok := readLenenc(p)
		if !ok || n == 0 {
			return false, fatef(FateProtocol, "bad column count")
		}
		r.class, r.st, r.n = classRows, rsColumns, n
		r.res.cols += int(n)
		if r.cacheMeta {
			// MariaDB: a metadata-follows byte; 0 (the client has the
			// definitions cached): none follow.
			if len(p) <= used {
				return false, fatef(FateProtocol, "column count without its metadata byte")
			}
			if p[used] == 0 {
				r.st = rsColumnsEOF
				if r.deprecateEOF {
					r.st = rsRows
				}
			}
		}
		return false, nil
	case comStmtFetch:
		r.class, r.st = classRows, rsRows
		r.packets--
		return r.packet(p)
	case comFieldList:
		r.class, r.st = classRows, rsUntilEOF
		r.packets--
		return r.packet(p)
	case comStatistics:
		r.class = classOther
		return true, nil
	}
	r.class = classOK
	if p[0] != 0x00 && !r.isEOF(p) {
		r.class = classOther
	} else if p[0] == 0x00 {
		r.res.affected = affectedOf(p)
	}
	return true, nil
}
