package mysql

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/replaygw/replaygw/compare"
)

// result is what a response held, beyond its class and packet count: the
// figures compare.MySQLResult carries. The digest is kept only for routes
// that compare (response.hash).
type result struct {
	cols     int    // result set columns (of every result set) or prepared statement columns
	rows     int    // rows of every result set
	affected uint64 // OK packets: affected rows, summed over more results
	errCode  uint16 // ERR packet: the error code
	digest   uint64 // FNV-1a over column definitions and rows, in order
}

// FNV-1a, 64 bits: an order-sensitive digest of the rows without
// allocating a hash per response.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (r *result) hash(p []byte) {
	h := r.digest
	if h == 0 {
		h = fnvOffset
	}
	for _, b := range p {
		h ^= uint64(b)
		h *= fnvPrime
	}
	// The packet boundary is part of the digest: rows "ab","c" differ from "a","bc".
	h ^= uint64(len(p))
	h *= fnvPrime
	r.digest = h
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
