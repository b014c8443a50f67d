package configs

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is one problem in a config file. Load and Parse return several of
// them at once, joined with errors.Join (one per line); errors.As finds the
// first.
type Error struct {
	File string // file name given to Load or Parse
	Line int    // 1-based line; 0 when unknown
	Key  string // dotted key with indices, e.g. "copy.route[1].to"; "" for the whole file
	Msg  string
}

// Error formats as "replaygw.toml:14: copy.route[1].to: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	switch {
	case e.Line > 0 && e.File == "":
		b.WriteString("line " + strconv.Itoa(e.Line))
	case e.Line > 0:
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(oneLine.Replace(e.Key) + ": ")
	}
	b.WriteString(oneLine.Replace(e.Msg))
	return b.String()
}

// oneLine keeps each error on its own line whatever the file held.
var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// Load reads, decodes, fills the defaults of and validates the config file
// at path. Every problem found is reported, each naming its key and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse is Load for text already in memory; name is used in messages, as
// Config.Path, and to resolve a relative token_file.
func Parse(data []byte, name string) (*Config, error) {
	// First pass: syntax only, and every key that is defined.
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, tomlError(name, err, nil)
	}
	pos := scanPositions(data)
	errs := unknownKeys(name, md.Keys(), pos)

	// Second pass: types, into the schema.
	c := &Config{Path: name}
	md, err = toml.Decode(string(data), c)
	if err != nil {
		return nil, joinErrors(append(errs, tomlError(name, err, pos)))
	}

	// Then the values, reporting unknown keys and bad values together.
	c.fillDefaults(md.IsDefined)
	ch := &checker{file: name, pos: pos, defined: md.IsDefined, errs: errs}
	c.check(ch)
	c.Warnings = ch.warningStrings()
	if len(ch.errs) > 0 {
		return nil, joinErrors(ch.errs)
	}
	return c, nil
}

// Validate checks c again (after flags changed it, or for a config built in
// code) and refreshes the parsed fields. It knows no line numbers.
func (c *Config) Validate() error {
	ch := &checker{file: c.Path}
	c.check(ch)
	c.Warnings = ch.warningStrings()
	if len(ch.errs) > 0 {
		return joinErrors(ch.errs)
	}
	return nil
}

// joinErrors orders errs by line and joins them, one per line.
func joinErrors(errs []*Error) error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// decodeErrRE matches the text of BurntSushi/toml errors that are not a
// toml.ParseError (type mismatches).
var decodeErrRE = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

// tomlError turns a BurntSushi/toml error into an *Error, finding the
// indexed key from the line when pos is known.
func tomlError(name string, err error, pos *positions) *Error {
	e := &Error{File: name, Msg: err.Error()}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Line, e.Key, e.Msg = pe.Position.Line, pe.LastKey, pe.Message
	} else if m := decodeErrRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Key, e.Msg = m[2], m[3]
	}
	e.Msg = strings.TrimPrefix(e.Msg, "toml: ")
	for _, k := range pos.find(e.Key) {
		if k.line == e.Line && !strings.HasSuffix(k.path, "]") {
			e.Key = k.path
			break
		}
	}
	return e
}

// unknownKeys reports each defined key that is not in the schema, once, at
// its topmost unknown component, with a suggestion when one is close.
func unknownKeys(name string, keys []toml.Key, pos *positions) []*Error {
	var errs []*Error
	seen := map[string]bool{}
	for _, k := range keys {
		bare := k.String()
		if seen[bare] {
			continue
		}
		seen[bare] = true
		at, known := schemaLookup(k)
		if at != len(k)-1 {
			continue // known, or below a key already reported
		}
		msg := fmt.Sprintf("unknown key %q", k[at])
		if s := suggest(k[at], known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		found := false
		for _, p := range pos.find(strings.Join(k, ".")) {
			if strings.HasSuffix(p.path, "]") {
				continue
			}
			errs = append(errs, &Error{File: name, Line: p.line, Key: p.path, Msg: msg})
			found = true
		}
		if !found {
			errs = append(errs, &Error{File: name, Line: pos.line(bare), Key: bare, Msg: msg})
		}
	}
	return errs
}
