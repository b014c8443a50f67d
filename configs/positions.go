package configs

import (
	"strconv"
	"strings"
)

// BurntSushi/toml does not tell where a key was defined, so positions are
// found by a small scanner over the file text. It runs only on text the TOML
// parser already accepted, but must never panic or loop on anything.

// keyPos is one key defined in the file: its dotted path with array indices
// ("copy.route[1].to", "gateway.pools[0]"), the same path without indices
// ("copy.route.to", to match toml.Key), and its 1-based line.
type keyPos struct {
	path string
	bare string
	line int
}

// positions is the set of keys defined in one file.
type positions struct {
	byPath map[string]int // indexed path -> line of its first definition
	all    []keyPos       // in file order
}

// line is where key (an indexed dotted path) was defined, or where its
// closest defined ancestor was ("gateway.pools" for a missing key under
// [gateway]); 0 when nothing is known.
func (p *positions) line(key string) int {
	if p == nil {
		return 0
	}
	for key != "" {
		if l, ok := p.byPath[key]; ok {
			return l
		}
		if strings.HasSuffix(key, "]") {
			if i := strings.LastIndexByte(key, '['); i >= 0 {
				key = key[:i]
				continue
			}
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

// find returns the defined keys whose index-free path is bare, in file order.
func (p *positions) find(bare string) []keyPos {
	if p == nil {
		return nil
	}
	var out []keyPos
	for _, k := range p.all {
		if k.bare == bare {
			out = append(out, k)
		}
	}
	return out
}

// pathElem is one component of a key path; index >= 0 for array elements.
type pathElem struct {
	name  string
	index int
}

func joinPath(elems []pathElem) (indexed, bare string) {
	var a, b strings.Builder
	for i, e := range elems {
		if i > 0 && e.index < 0 || i > 0 && e.name != "" {
			a.WriteByte('.')
			b.WriteByte('.')
		}
		a.WriteString(e.name)
		b.WriteString(e.name)
		if e.index >= 0 {
			a.WriteString("[" + strconv.Itoa(e.index) + "]")
		}
	}
	return a.String(), b.String()
}

// scanner walks TOML text recording where keys are defined.
type scanner struct {
	src    []byte
	i      int
	line   int
	table  []pathElem
	arrays map[string]int // bare path of an array of tables -> elements so far
	pos    *positions
}

// scanPositions records the line of every key, table header and array
// element in text.
func scanPositions(text []byte) *positions {
	s := &scanner{
		src:    text,
		line:   1,
		arrays: map[string]int{},
		pos:    &positions{byPath: map[string]int{}},
	}
	s.document()
	return s.pos
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) peek(off int) byte {
	if s.i+off < len(s.src) {
		return s.src[s.i+off]
	}
	return 0
}

func (s *scanner) record(elems []pathElem) {
	indexed, bare := joinPath(elems)
	if _, ok := s.pos.byPath[indexed]; !ok {
		s.pos.byPath[indexed] = s.line
		s.pos.all = append(s.pos.all, keyPos{path: indexed, bare: bare, line: s.line})
	}
}

// skipSpace skips blanks and comments and, if newlines is set, line breaks.
func (s *scanner) skipSpace(newlines bool) {
	for !s.eof() {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
		case c == '\n' && newlines:
			s.i++
			s.line++
		case c == '#':
			for !s.eof() && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

// skipLine moves past the rest of the current line.
func (s *scanner) skipLine() {
	for !s.eof() && s.src[s.i] != '\n' {
		s.i++
	}
}

func (s *scanner) document() {
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		start := s.i
		if s.src[s.i] == '[' {
			s.header()
		} else {
			s.keyValue(s.table)
		}
		s.skipSpace(false)
		s.skipLine()
		if s.i == start { // cannot happen on valid TOML; never loop
			s.i++
		}
	}
}

// header handles "[a.b]" and "[[a.b]]".
func (s *scanner) header() {
	array := s.peek(1) == '['
	if array {
		s.i += 2
	} else {
		s.i++
	}
	names := s.key()
	elems := make([]pathElem, 0, len(names))
	prefix := ""
	for n, name := range names {
		if n > 0 {
			prefix += "."
		}
		prefix += name
		e := pathElem{name: name, index: -1}
		last := n == len(names)-1
		if array && last {
			s.arrays[prefix]++
			for k := range s.arrays { // a new element starts its sub-arrays afresh
				if strings.HasPrefix(k, prefix+".") {
					delete(s.arrays, k)
				}
			}
		}
		if c := s.arrays[prefix]; c > 0 {
			e.index = c - 1
		}
		elems = append(elems, e)
	}
	if array && len(elems) > 0 {
		// Also record the array itself ("copy.route") at its first element.
		arr := append([]pathElem(nil), elems...)
		arr[len(arr)-1].index = -1
		s.record(arr)
	}
	s.record(elems)
	s.table = elems
}

// key reads a dotted key: bare, "basic" or 'literal' parts.
func (s *scanner) key() []string {
	var names []string
	for {
		s.skipSpace(false)
		if s.eof() {
			return names
		}
		var name string
		switch c := s.src[s.i]; c {
		case '"':
			raw := s.basicString()
			if u, err := strconv.Unquote(raw); err == nil {
				name = u
			} else {
				name = strings.Trim(raw, `"`)
			}
		case '\'':
			name = strings.Trim(s.literalString(), "'")
		default:
			start := s.i
			for !s.eof() && isBareKeyChar(s.src[s.i]) {
				s.i++
			}
			if s.i == start {
				return names
			}
			name = string(s.src[start:s.i])
		}
		names = append(names, name)
		s.skipSpace(false)
		if s.peek(0) != '.' {
			return names
		}
		s.i++
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// keyValue handles "a.b = value" under the table path base.
func (s *scanner) keyValue(base []pathElem) {
	names := s.key()
	if len(names) == 0 {
		return
	}
	elems := append([]pathElem(nil), base...)
	for _, n := range names {
		elems = append(elems, pathElem{name: n, index: -1})
		s.record(elems)
	}
	s.skipSpace(false)
	if s.peek(0) != '=' {
		return
	}
	s.i++
	s.value(elems)
}

// value skips one value, recording array elements and inline-table keys.
func (s *scanner) value(path []pathElem) {
	s.skipSpace(false)
	if s.eof() {
		return
	}
	switch s.src[s.i] {
	case '"':
		s.basicString()
	case '\'':
		s.literalString()
	case '[':
		s.array(path)
	case '{':
		s.inlineTable(path)
	default:
		for !s.eof() {
			switch s.src[s.i] {
			case ',', ']', '}', '\n', '#':
				return
			}
			s.i++
		}
	}
}

func (s *scanner) array(path []pathElem) {
	s.i++ // '['
	for idx := 0; ; idx++ {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		if s.src[s.i] == ']' {
			s.i++
			return
		}
		start := s.i
		elem := append(append([]pathElem(nil), path...), pathElem{index: idx})
		s.record(elem)
		s.value(elem)
		s.skipSpace(true)
		if s.peek(0) == ',' {
			s.i++
		} else if s.i == start {
			s.i++ // malformed; never loop
		}
	}
}

func (s *scanner) inlineTable(path []pathElem) {
	s.i++ // '{'
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		if s.src[s.i] == '}' {
			s.i++
			return
		}
		start := s.i
		s.keyValue(path)
		s.skipSpace(true)
		if s.peek(0) == ',' {
			s.i++
		} else if s.i == start {
			s.i++
		}
	}
}

// basicString consumes a "..." or """...""" string and returns its raw text.
func (s *scanner) basicString() string {
	start := s.i
	if s.peek(1) == '"' && s.peek(2) == '"' {
		s.i += 3
		for !s.eof() {
			switch s.src[s.i] {
			case '\\':
				if s.peek(1) == '\n' {
					s.line++
				}
				s.i += 2
				continue
			case '\n':
				s.line++
			case '"':
				if s.peek(1) == '"' && s.peek(2) == '"' {
					s.i += 3
					for s.peek(0) == '"' { // up to two quotes may end the content
						s.i++
					}
					return string(s.src[start:min(s.i, len(s.src))])
				}
			}
			s.i++
		}
		return string(s.src[start:])
	}
	s.i++
	for !s.eof() {
		switch s.src[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return string(s.src[start:s.i])
		case '\n':
			return string(s.src[start:s.i])
		}
		s.i++
	}
	return string(s.src[start:])
}

// literalString consumes a literal string (single or triple apostrophes) and
// returns its raw text.
func (s *scanner) literalString() string {
	start := s.i
	if s.peek(1) == '\'' && s.peek(2) == '\'' {
		s.i += 3
		for !s.eof() {
			if s.src[s.i] == '\n' {
				s.line++
			}
			if s.src[s.i] == '\'' && s.peek(1) == '\'' && s.peek(2) == '\'' {
				s.i += 3
				for s.peek(0) == '\'' {
					s.i++
				}
				return string(s.src[start:s.i])
			}
			s.i++
		}
		return string(s.src[start:])
	}
	s.i++
	for !s.eof() {
		switch s.src[s.i] {
		case '\'':
			s.i++
			return string(s.src[start:s.i])
		case '\n':
			return string(s.src[start:s.i])
		}
		s.i++
	}
	return string(s.src[start:])
}
