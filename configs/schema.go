package configs

import (
	"encoding"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// schemaLookup walks key through Config's toml tags, exactly (the decoder
// would also accept a key that differs in case; the schema does not). It
// returns the index of the first component that is not in the schema with
// the names valid at that level, or -1 when the whole key is known.
func schemaLookup(key toml.Key) (int, []string) {
	t := reflect.TypeFor[Config]()
	for i, name := range key {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			t = t.Elem() // array of tables: keys belong to each element
		}
		if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return i, nil // a value, not a table: nothing may be below it
		}
		var known []string
		var next reflect.Type
		for j := range t.NumField() {
			f := t.Field(j)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			known = append(known, tag)
			if tag == name {
				next = f.Type
			}
		}
		if next == nil {
			return i, known
		}
		t = next
	}
	return -1, nil
}

// suggest returns the name in known closest to name when it is a likely
// typo (different case, or at most two edits away), else "".
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
