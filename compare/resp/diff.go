package resp

import (
	"bytes"
	"fmt"
	"strconv"
)

// FirstDiff describes where b first differs from a: a path of element
// indexes ("" for the top value, "[2][0]" inside aggregates, "attr" for an
// attribute) and what differs. Equal values give "", "".
func FirstDiff(a, b Value) (path, what string) {
	if a.Type != b.Type {
		return "", fmt.Sprintf("type %q vs %q", a.Type, b.Type)
	}
	if a.Null != b.Null {
		return "", fmt.Sprintf("null %v vs %v", a.Null, b.Null)
	}
	if (a.Attr == nil) != (b.Attr == nil) {
		return "attr", "attribute present on one side only"
	}
	if a.Attr != nil {
		if p, w := FirstDiff(*a.Attr, *b.Attr); w != "" {
			return "attr" + p, w
		}
	}
	if a.Int != b.Int {
		return "", fmt.Sprintf("%d vs %d", a.Int, b.Int)
	}
	if !bytes.Equal(a.Str, b.Str) {
		return "", fmt.Sprintf("%s vs %s", clip(a.Str), clip(b.Str))
	}
	if len(a.Elems) != len(b.Elems) {
		return "", fmt.Sprintf("%d vs %d elements", len(a.Elems), len(b.Elems))
	}
	for i := range a.Elems {
		if p, w := FirstDiff(a.Elems[i], b.Elems[i]); w != "" {
			return "[" + strconv.Itoa(i) + "]" + p, w
		}
	}
	return "", ""
}

func clip(s []byte) string {
	if len(s) > 40 {
		return strconv.Quote(string(s[:40])) + "..."
	}
	return strconv.Quote(string(s))
}
