package configs

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The TOML parser turns the text into a tree of maps, lists and scalars;
// decodeTree moves that tree into the schema. It walks the schema's fields
// in declaration order (never a Go map), so that every value of the wrong
// type is reported, each once, in the same order on every run, and in TOML
// words ("must be a list", "use [[copy.route]]") rather than Go type names.
// A value that does not fit is left zero and its key is remembered, so that
// the defaults fill it and no later check repeats the complaint.

// decoder carries the problems of one decodeTree run.
type decoder struct {
	ch  *checker
	bad map[string]bool // indexed keys whose value was refused
}

// decodeTree fills c from the parsed document tree.
func decodeTree(c *Config, tree map[string]any, ch *checker) map[string]bool {
	d := &decoder{ch: ch, bad: map[string]bool{}}
	d.table(reflect.ValueOf(c).Elem(), tree, "")
	return d.bad
}

func (d *decoder) fail(key, format string, args ...any) {
	d.bad[key] = true
	d.ch.errf(key, format, args...)
}

// table decodes the keys of m that the struct v has a field for.
func (d *decoder) table(v reflect.Value, m map[string]any, prefix string) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		val, ok := m[tag]
		if !ok {
			continue
		}
		d.value(v.Field(i), val, joinKey(prefix, tag), tag)
	}
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// value decodes one TOML value into v; key is its indexed path, name its
// last component (for examples in messages).
func (d *decoder) value(v reflect.Value, val any, key, name string) {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		d.text(v, val, key)
		return
	}
	switch v.Kind() {
	case reflect.Pointer: // a section: [gateway], [copy]; or an optional value
		if v.Type().Elem().Kind() != reflect.Struct {
			p := reflect.New(v.Type().Elem())
			d.value(p.Elem(), val, key, name)
			v.Set(p)
			return
		}
		m, ok := val.(map[string]any)
		if !ok {
			d.fail(key, "must be a table ([%s]), not %s", key, tomlKind(val))
			return
		}
		p := reflect.New(v.Type().Elem())
		d.table(p.Elem(), m, key)
		v.Set(p)
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			d.fail(key, "must be a table ([%s]), not %s", key, tomlKind(val))
			return
		}
		d.table(v, m, key)
	case reflect.Slice:
		d.list(v, val, key, name)
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			d.fail(key, "must be a string in quotes, e.g. %s = \"...\", not %s", name, tomlKind(val))
			return
		}
		v.SetString(s)
	case reflect.Int:
		n, ok := val.(int64)
		if !ok {
			d.fail(key, "must be an integer, not %s", tomlKind(val))
			return
		}
		if n < math.MinInt || n > math.MaxInt || v.OverflowInt(n) {
			d.fail(key, "%d is too large", n)
			return
		}
		v.SetInt(n)
	case reflect.Float64:
		switch x := val.(type) {
		case float64:
			v.SetFloat(x)
		case int64:
			v.SetFloat(float64(x))
		default:
			d.fail(key, "must be a number, not %s", tomlKind(val))
		}
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			d.fail(key, "must be true or false (no quotes), not %s", tomlKind(val))
			return
		}
		v.SetBool(b)
	default:
		d.fail(key, "cannot be set in a file")
	}
}

// list decodes a TOML array: of strings, or of tables ([[copy.route]]).
func (d *decoder) list(v reflect.Value, val any, key, name string) {
	elem := v.Type().Elem()
	var items []any
	switch x := val.(type) {
	case []any:
		items = x
	case []map[string]any:
		for _, m := range x {
			items = append(items, m)
		}
	default:
		if elem.Kind() == reflect.Struct {
			if _, ok := val.(map[string]any); ok {
				d.fail(key, "must be a list of tables: use [[%s]] (two brackets) for each one", key)
				return
			}
			d.fail(key, "must be a list of tables: use [[%s]] for each one, not %s", key, tomlKind(val))
			return
		}
		d.fail(key, "must be a list, e.g. %s = [%s], not %s", name, exampleElem(val), tomlKind(val))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, it := range items {
		d.value(out.Index(i), it, key+"["+strconv.Itoa(i)+"]", name)
	}
	v.Set(out)
}

// exampleElem shows a scalar the way it would appear inside a list.
func exampleElem(val any) string {
	if s, ok := val.(string); ok {
		return strconv.Quote(s)
	}
	return "\"...\""
}

// text decodes a Duration or Size: a string, or (as the TOML library
// does) a bare number, which UnmarshalText then judges.
func (d *decoder) text(v reflect.Value, val any, key string) {
	var s string
	switch x := val.(type) {
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		d.fail(key, "must be a string in quotes (e.g. \"2s\" or \"64MiB\"), not %s", tomlKind(val))
		return
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
		d.fail(key, "%s", err)
	}
}

// tomlKind names the TOML type of a parsed value.
func tomlKind(val any) string {
	switch x := val.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", x)
	case int64:
		return fmt.Sprintf("an integer (%d)", x)
	case float64:
		return fmt.Sprintf("a float (%v)", x)
	case bool:
		return fmt.Sprintf("a boolean (%v)", x)
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "a list"
	case time.Time:
		return "a date-time"
	}
	return "a date or time"
}
