package compare

import "fmt"

// MySQLResult is what protocol/mysql reports about one response: enough to
// compare without keeping the rows.
type MySQLResult struct {
	Class        string `json:"class"`              // "ok", "err", "rows", "prepared", "eof"
	ErrCode      uint16 `json:"err_code,omitempty"` // for "err"
	AffectedRows uint64 `json:"affected_rows"`      // for "ok"
	Columns      int    `json:"columns"`            // result set or prepared statement columns
	Rows         int    `json:"rows"`
	Digest       string `json:"digest,omitempty"` // hex hash of the rows, in order
	// Meta is a hex hash of the column definitions, in order; "" when the
	// server sent none (a MariaDB client's cached metadata).
	Meta  string `json:"meta,omitempty"`
	Bytes int    `json:"bytes"`
}

// MySQL compares two MySQL responses. Status: class or error code - then
// nothing else, as an ERR has no columns or rows to compare (the way RESP
// reports a reply of another type); headers: column count, then the
// column definitions (when both servers sent them); body: affected rows,
// row count, then the rows' digest - with as many columns only (another
// column count changes every row).
func MySQL(online, target MySQLResult) Diff {
	b := newBuilder(online.Bytes, target.Bytes)
	if online.Class != target.Class {
		b.add(Status, "class", fmt.Sprintf("class %s vs %s", online.Class, target.Class))
		return b.done()
	}
	if online.ErrCode != target.ErrCode {
		b.add(Status, "err_code", fmt.Sprintf("error %d vs %d", online.ErrCode, target.ErrCode))
	}
	sameCols := online.Columns == target.Columns
	switch {
	case !sameCols:
		b.add(Headers, "columns", fmt.Sprintf("%d vs %d columns", online.Columns, target.Columns))
	case online.Meta != "" && target.Meta != "" && online.Meta != target.Meta:
		b.add(Headers, "column_defs", "same column count, different column definitions")
	}
	if online.AffectedRows != target.AffectedRows {
		b.add(Body, "affected_rows", fmt.Sprintf("affected rows %d vs %d", online.AffectedRows, target.AffectedRows))
	}
	switch {
	case online.Rows != target.Rows:
		b.add(Body, "rows", fmt.Sprintf("%d vs %d rows", online.Rows, target.Rows))
	case sameCols && online.Digest != target.Digest:
		b.add(Body, "digest", "same row count, different contents")
	}
	return b.done()
}
