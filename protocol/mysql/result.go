package mysql

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/replaygw/replaygw/compare"
)

// result is what a response held, beyond its class and packet count: the
// figures compare.MySQLResult carries. The digests are kept only for
// routes that compare (response.hash).
type result struct {
	cols     int    // result set columns (of every result set) or prepared statement columns
	rows     int    // rows of every result set
	affected uint64 // OK packets: affected rows, summed over more results
	errCode  uint16 // ERR packet: the error code
	digest   uint64 // FNV-1a over the rows, in order
	meta     uint64 // FNV-1a over the column definitions the server sent, in order
}

// FNV-1a, 64 bits: an order-sensitive digest of the rows without
// allocating a hash per response.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hash adds the packet payload p, a row or (row false) a column
// definition, to its digest. The two are apart: a MariaDB server skips
// the definitions of a prepared statement's result that the client has
// cached (MARIADB_CLIENT_CACHE_METADATA, negotiated online but not with
// the target), and the rows must still compare equal.
func (r *result) hash(p []byte, row bool) {
	d := &r.digest
	if !row {
		d = &r.meta
	}
	*d = fnv(*d, p)
}

// fnv extends FNV-1a digest h (0: none yet) by p and its length.
func fnv(h uint64, p []byte) uint64 {
	if h == 0 {
		h = fnvOffset
	}
	for _, b := range p {
		h ^= uint64(b)
		h *= fnvPrime
	}
	// The packet boundary is part of the digest: rows "ab","c" differ from "a","bc".
	h ^= uint64(len(p))
	return h * fnvPrime
}

// errCodeOf is the code of an ERR packet payload.
func errCodeOf(p []byte) uint16 {
	if len(p) < 3 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:])
}

// affectedOf is the affected rows of an OK packet payload.
func affectedOf(p []byte) uint64 {
	if len(p) < 2 {
		return 0
	}
	n, _, _ := readLenenc(p[1:])
	return n
}

func className(c byte) string {
	switch c {
	case classOK:
		return "ok"
	case classErr:
		return "err"
	case classRows:
		return "rows"
	case classPrepared:
		return "prepared"
	case classOther:
		return "other"
	}
	return ""
}

// Result is the compare.MySQLResult of one side of an answered request.
func (d *sideRec) Result() compare.MySQLResult {
	r := compare.MySQLResult{
		Class: className(d.class), ErrCode: d.res.errCode, AffectedRows: d.res.affected,
		Columns: d.res.cols, Rows: d.res.rows, Bytes: d.bytes,
	}
	if d.res.digest != 0 {
		r.Digest = strconv.FormatUint(d.res.digest, 16)
	}
	if d.res.meta != 0 {
		r.Meta = strconv.FormatUint(d.res.meta, 16)
	}
	return r
}

// DecodeResult reads the OnlineData or TargetData of an Exchange from a
// MySQL route that compares: the JSON of a compare.MySQLResult (the rows
// are not kept, only their counts and digest).
func DecodeResult(data []byte) (compare.MySQLResult, error) {
	var r compare.MySQLResult
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("mysql: exchange result: %w", err)
	}
	return r, nil
}
