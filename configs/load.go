package configs

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
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
// at path as `replaygw config check` sees it: every section, each problem
// naming its key and line. A file with both [gateway] and [copy] is checked
// as the appliance would run it. Commands use LoadFor.
func Load(path string) (*Config, error) { return LoadFor(path, "") }

// LoadFor is Load as the command of role reads the file (RoleGateway for
// `up`, RoleCopier for `copy` and `replay`, RoleAppliance, or "" for every
// section): only problems in the sections that role uses are errors, and
// the sections it does not use are nil in the result, so that a file with
// both [gateway] and [copy] serves every command.
func LoadFor(path, role string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseFor(data, path, role)
}

// Parse is Load for text already in memory; name is used in messages, as
// Config.Path, and to resolve a relative token_file.
func Parse(data []byte, name string) (*Config, error) { return ParseFor(data, name, "") }

// ParseFor is LoadFor for text already in memory.
func ParseFor(data []byte, name, role string) (*Config, error) {
	used, err := roleSections(role)
	if err != nil {
		return nil, err
	}
	// The syntax, and every key that is defined, in file order.
	var tree map[string]any
	md, err := toml.Decode(string(data), &tree)
	if err != nil {
		return nil, tomlError(name, err, nil)
	}
	pos := scanPositions(data)
	ch := &checker{file: name, pos: pos, role: role}
	ch.errs = unknownKeys(name, md.Keys(), pos)

	// The values, into the schema; a value of the wrong type is reported
	// and then treated as absent.
	c := &Config{Path: name}
	bad := decodeTree(c, tree, ch)
	ch.skip = bad
	ch.errs = slices.DeleteFunc(ch.errs, func(e *Error) bool { return below(e.Key, bad) })
	ch.defined = func(key ...string) bool { return !bad[strings.Join(key, ".")] && md.IsDefined(key...) }
	fileGateway := c.Gateway
	c.view(role)

	c.fillDefaults(ch.defined)
	c.check(ch)
	if c.Gateway == nil && c.Copy != nil {
		c.Copy.checkForeignPools(ch, fileGateway)
	}
	return c.result(ch, used)
}

// Validate checks c again (after flags changed it, or for a config built in
// code) and refreshes the parsed fields. It knows no line numbers.
func (c *Config) Validate() error { return c.ValidateFor("") }

// ValidateFor is Validate for the command of role (see LoadFor): the
// sections it does not use are neither checked nor changed, and stay in c.
func (c *Config) ValidateFor(role string) error {
	used, err := roleSections(role)
	if err != nil {
		return err
	}
	view := *c
	view.view(role)
	ch := &checker{file: c.Path, role: role}
	view.check(ch)
	_, err = view.result(ch, used)
	c.Warnings = view.Warnings
	return err
}

// result keeps the problems in the sections used, sets the warnings and
// returns c, or nil and every error in file order.
func (c *Config) result(ch *checker, used map[string]bool) (*Config, error) {
	errs, warns := ch.relevant(ch.errs, used), ch.relevant(ch.warns, used)
	c.Warnings = nil
	sortByLine(warns)
	for _, w := range warns {
		c.Warnings = append(c.Warnings, w.Error())
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return c, nil
}

// joinErrors orders errs by line and joins them, one per line.
func joinErrors(errs []*Error) error {
	sortByLine(errs)
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// below reports whether key lies under one of the refused keys.
func below(key string, bad map[string]bool) bool {
	for k := range bad {
		if strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}

// sortByLine orders problems by line, keeping the order of one line's.
func sortByLine(errs []*Error) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
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

// renamedKeys maps keys of earlier releases to their names now.
var renamedKeys = map[string]string{
	"gateway.route_ttl": "lease_ttl", // the gateway's table holds leases; "route" is [[copy.route]] only
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
		if s, ok := renamedKeys[strings.Join(k, ".")]; ok {
			msg = fmt.Sprintf("%q was renamed to %q", k[at], s)
		} else if s := suggest(k[at], known); s != "" {
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
