package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// JSON semantics of the body comparison:
//   - object member order does not matter; a duplicated key keeps its last
//     value (as encoding/json decodes);
//   - array order matters;
//   - numbers are equal when their decimal values are: 1, 1.0 and 1e0 are
//     equal, compared exactly (no float rounding);
//   - strings compare after unescaping ("\u00e9" equals "é");
//   - an ignored path drops the value there and everything below it, on
//     both sides, including a member present on one side only.

// jsonSeg is one step of a path: a member name, any member (*), an index,
// or any index ([*]).
type jsonSeg struct {
	key   string
	index int // -1: a key; -2: any index
	any   bool
}

type jsonPath []jsonSeg

// parseJSONPath reads "$.a.b", "a.b", "items[*].id", "$['odd key'][0]".
func parseJSONPath(p string) (jsonPath, error) {
	s := strings.TrimPrefix(strings.TrimSpace(p), "$")
	var out jsonPath
	for len(s) > 0 {
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("JSON path %q: missing ]", p)
			}
			in := s[1:end]
			s = s[end+1:]
			switch {
			case in == "*":
				out = append(out, jsonSeg{index: -2, any: true})
			case len(in) >= 2 && (in[0] == '\'' || in[0] == '"') && in[len(in)-1] == in[0]:
				out = append(out, jsonSeg{key: in[1 : len(in)-1], index: -1})
			default:
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("JSON path %q: bad index %q", p, in)
				}
				out = append(out, jsonSeg{index: n})
			}
			continue
		}
		s = strings.TrimPrefix(s, ".")
		i := strings.IndexAny(s, ".[")
		if i < 0 {
			i = len(s)
		}
		name := s[:i]
		if name == "" {
			return nil, fmt.Errorf("JSON path %q: empty member name", p)
		}
		out = append(out, jsonSeg{key: name, index: -1, any: name == "*"})
		s = s[i:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("JSON path %q: names no field", p)
	}
	return out, nil
}

// step is one step of the walk: a member name or an index.
type step struct {
	key   string
	index int // -1 for a key
}

func (p jsonPath) matches(at []step) bool {
	if len(p) != len(at) {
		return false
	}
	for i, s := range p {
		a := at[i]
		switch {
		case s.index == -2:
			if a.index < 0 {
				return false
			}
		case s.index >= 0:
			if a.index != s.index {
				return false
			}
		case s.any:
			if a.index >= 0 {
				return false
			}
		default:
			if a.index >= 0 || a.key != s.key {
				return false
			}
		}
	}
	return true
}

// render writes a path; general writes indexes as [*].
func render(at []step, general bool) string {
	var sb strings.Builder
	sb.WriteByte('$')
	for _, s := range at {
		switch {
		case s.index >= 0 && general:
			sb.WriteString("[*]")
		case s.index >= 0:
			sb.WriteString("[" + strconv.Itoa(s.index) + "]")
		case isIdent(s.key):
			sb.WriteString("." + s.key)
		default:
			sb.WriteString("[" + strconv.Quote(s.key) + "]")
		}
	}
	return sb.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

type jsonDiff struct {
	concrete, general, what string
}

// maxJSONDiffs bounds the differences listed for one body.
const maxJSONDiffs = 16

// compareJSON decodes both documents (an error if either is not JSON) and
// appends their differences outside the ignored paths.
func compareJSON(a, b []byte, ignore []jsonPath, out *[]jsonDiff) error {
	va, err := decodeJSON(a)
	if err != nil {
		return err
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return err
	}
	w := jsonWalk{ignore: ignore, out: out}
	w.walk(va, vb)
	return nil
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

type jsonWalk struct {
	ignore []jsonPath
	at     []step
	out    *[]jsonDiff
}

func (w *jsonWalk) ignored() bool {
	for _, p := range w.ignore {
		if p.matches(w.at) {
			return true
		}
	}
	return false
}

func (w *jsonWalk) report(what string) {
	if len(*w.out) >= maxJSONDiffs {
		return
	}
	*w.out = append(*w.out, jsonDiff{concrete: render(w.at, false), general: render(w.at, true), what: what})
}

func (w *jsonWalk) walk(a, b any) {
	if w.ignored() {
		return
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			w.report("object vs " + typeName(b))
			return
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, dup := x[k]; !dup {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.at = append(w.at, step{key: k, index: -1})
			va, okA := x[k]
			vb, okB := y[k]
			switch {
			case w.ignored():
			case !okA:
				w.report("only on target")
			case !okB:
				w.report("missing on target")
			default:
				w.walk(va, vb)
			}
			w.at = w.at[:len(w.at)-1]
		}
	case []any:
		y, ok := b.([]any)
		if !ok {
			w.report("array vs " + typeName(b))
			return
		}
		for i := 0; i < max(len(x), len(y)); i++ {
			w.at = append(w.at, step{index: i})
			switch {
			case w.ignored():
			case i >= len(x):
				w.report("only on target")
			case i >= len(y):
				w.report("missing on target")
			default:
				w.walk(x[i], y[i])
			}
			w.at = w.at[:len(w.at)-1]
		}
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			w.report("number vs " + typeName(b))
			return
		}
		if !numbersEqual(x, y) {
			w.report(fmt.Sprintf("%s vs %s", x, y))
		}
	default: // string, bool, nil
		if typeName(a) != typeName(b) {
			w.report(typeName(a) + " vs " + typeName(b))
		} else if a != b {
			w.report(fmt.Sprintf("%s vs %s", clip(fmt.Sprint(a)), clip(fmt.Sprint(b))))
		}
	}
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	ra, okA := new(big.Rat).SetString(string(a))
	rb, okB := new(big.Rat).SetString(string(b))
	return okA && okB && ra.Cmp(rb) == 0
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
