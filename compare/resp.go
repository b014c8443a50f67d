package compare

import (
	"fmt"

	"github.com/replaygw/replaygw/compare/resp"
)

// RESP compares two Redis replies. Status: the type differs, or one is an
// error and the other not; body: the content differs (field: element path).
func RESP(online, target resp.Reply) Diff {
	b := newBuilder(len(online.Raw), len(target.Raw))
	path, what := resp.FirstDiff(online.Value, target.Value)
	if what == "" {
		return b.done()
	}
	b.d.Offset = FirstDifference(online.Raw, target.Raw)
	if online.IsError() != target.IsError() || (path == "" && online.Type != target.Type) {
		b.add(Status, "", fmt.Sprintf("reply type %q vs %q", online.Type, target.Type))
		return b.done()
	}
	b.add(Body, path, fmt.Sprintf("reply%s: %s", path, what))
	return b.done()
}
