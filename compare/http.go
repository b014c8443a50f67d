package compare

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/replaygw/replaygw/compare/httpframe"
)

// DefaultIgnoreHeaders differ between any two servers and are not compared
// unless HTTPRules.NoDefaultHeaders is set.
var DefaultIgnoreHeaders = []string{"Date", "Set-Cookie", "ETag", "Age", "X-Request-Id"}

// framingHeaders describe the encoding of the body, not the answer: they
// are never compared as headers (the body comparison covers them).
var framingHeaders = []string{"Content-Length", "Transfer-Encoding", "Trailer"}

// HTTPRules are the noise rules of the HTTP comparison.
type HTTPRules struct {
	IgnoreHeaders    []string // compared case-insensitively, added to the defaults
	NoDefaultHeaders bool     // compare DefaultIgnoreHeaders too
	IgnoreJSON       []string // JSON paths left out of body comparison: "$.meta.ts", "items[*].id"
}

// HTTP compares HTTP responses under a set of rules.
type HTTP struct {
	ignore map[string]bool // canonical header names
	json   []jsonPath
}

// NewHTTP compiles rules; a bad JSON path is an error naming it.
func NewHTTP(r HTTPRules) (*HTTP, error) {
	h := &HTTP{ignore: map[string]bool{}}
	names := append([]string(nil), framingHeaders...)
	if !r.NoDefaultHeaders {
		names = append(names, DefaultIgnoreHeaders...)
	}
	for _, n := range append(names, r.IgnoreHeaders...) {
		h.ignore[http.CanonicalHeaderKey(strings.TrimSpace(n))] = true
	}
	for i, p := range r.IgnoreJSON {
		jp, err := parseJSONPath(p)
		if err != nil {
			return nil, fmt.Errorf("compare: ignore_json[%d]: %w", i, err)
		}
		h.json = append(h.json, jp)
	}
	return h, nil
}

// Diff compares the target's response with production's.
func (h *HTTP) Diff(online, target *httpframe.Response) Diff {
	b := newBuilder(len(online.Body), len(target.Body))
	if online.Status != target.Status {
		b.add(Status, "", fmt.Sprintf("status %d vs %d", online.Status, target.Status))
	}
	h.headers(b, online.Header, target.Header)
	h.body(b, online, target)
	return b.done()
}

func (h *HTTP) headers(b *diffBuilder, on, tg http.Header) {
	names := map[string]bool{}
	for k := range on {
		names[http.CanonicalHeaderKey(k)] = true
	}
	for k := range tg {
		names[http.CanonicalHeaderKey(k)] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		if !h.ignore[k] {
			sorted = append(sorted, k)
		}
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		a, c := on.Values(k), tg.Values(k)
		lk := strings.ToLower(k)
		switch {
		case len(a) == 0:
			b.add(Headers, lk, fmt.Sprintf("header %s only on target", k))
		case len(c) == 0:
			b.add(Headers, lk, fmt.Sprintf("header %s missing on target", k))
		case strings.Join(a, ", ") != strings.Join(c, ", "):
			b.add(Headers, lk, fmt.Sprintf("header %s: %q vs %q", k, clip(strings.Join(a, ", ")), clip(strings.Join(c, ", "))))
		}
	}
}

func (h *HTTP) body(b *diffBuilder, online, target *httpframe.Response) {
	on, tg := online.Body, target.Body
	off := FirstDifference(on, tg)
	if off < 0 {
		return
	}
	if isJSON(online.Header, on) && isJSON(target.Header, tg) {
		var diffs []jsonDiff
		if compareJSON(on, tg, h.json, &diffs) == nil {
			if len(diffs) == 0 {
				return // equal as JSON, or only in ignored fields
			}
			b.d.Offset = off
			for _, d := range diffs {
				b.add(Body, d.general, d.concrete+": "+d.what)
			}
			return
		}
	}
	b.d.Offset = off
	b.add(Body, "", fmt.Sprintf("body differs at byte %d (%d vs %d bytes)", off, len(on), len(tg)))
}

// isJSON: the content type says JSON, or there is none and the body is an
// object or an array.
func isJSON(h http.Header, body []byte) bool {
	ct := strings.ToLower(h.Get("Content-Type"))
	if ct != "" {
		return strings.Contains(ct, "json")
	}
	t := bytes.TrimSpace(body)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
