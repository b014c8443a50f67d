package configs

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanPositions(t *testing.T) {
	text := `# comment with [fake] and key = 1
top = 1

[gateway] # trailing comment
pools = [
  "10.0.0.0/24", # first
  # between
  "10.1.0.0/24",
]
tun = "a#b" # the hash is inside the string
banner = """
[copy]
fake = 1
"""
lit = '''
x = 2'''
"quoted.key" = 1
a.b.c = { d = 1, e = [1, 2] }

[[copy.route]]
from = "x"

[[copy.route]]
to = 'y'
[copy.route.opts]
n = 1

[[copy.route]]
nested = [[1, 2],
  [3]]
after = 1
esc = "a\"b [x] \\"
ml = """a""b\
  c"""""
next = 1
`
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		t.Fatalf("fixture is not valid TOML: %v", err)
	}
	p := scanPositions([]byte(text))
	want := map[string]int{
		"top":                     2,
		"gateway":                 4,
		"gateway.pools":           5,
		"gateway.pools[0]":        6,
		"gateway.pools[1]":        8,
		"gateway.tun":             10,
		"gateway.banner":          11,
		"gateway.lit":             15,
		"gateway.quoted.key":      17,
		"gateway.a.b.c":           18,
		"gateway.a.b.c.d":         18,
		"gateway.a.b.c.e[1]":      18,
		"copy.route":              20,
		"copy.route[0]":           20,
		"copy.route[0].from":      21,
		"copy.route[1]":           23,
		"copy.route[1].to":        24,
		"copy.route[1].opts":      25,
		"copy.route[1].opts.n":    26,
		"copy.route[2].nested":    29,
		"copy.route[2].nested[1]": 30,
		"copy.route[2].after":     31,
		"copy.route[2].esc":       32,
		"copy.route[2].ml":        33,
		"copy.route[2].next":      35,
	}
	for key, line := range want {
		if got := p.line(key); got != line {
			t.Errorf("line(%q) = %d, want %d", key, got, line)
		}
	}
	for key, line := range map[string]int{
		"copy.fake":             0,  // inside a string: not a key
		"gateway.missing":       4,  // falls back to the table
		"copy.route[1].missing": 23, // ... to the array element
		"gateway.pools[7]":      5,  // ... to the array
		"nothing.here":          0,
	} {
		if got := p.line(key); got != line {
			t.Errorf("line(%q) = %d, want %d", key, got, line)
		}
	}
	if got := p.find("copy.route.to"); len(got) != 1 || got[0].path != "copy.route[1].to" {
		t.Errorf("find(copy.route.to) = %+v", got)
	}
}

func TestScanPositionsNil(t *testing.T) {
	var p *positions
	if p.line("a") != 0 || p.find("a") != nil {
		t.Error("nil positions must know nothing")
	}
}
