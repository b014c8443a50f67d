package lines

import (
	"fmt"
	"testing"
)

func TestJoiner(t *testing.T) {
	cases := []struct {
		name   string
		max    int
		pieces []string
		want   string // Cut results: line|k|status, one per call
	}{
		{"inside one segment", 0, []string{"ab\ncd\n"}, "[ab|3|1 cd|3|1]"},
		{"split", 0, []string{"a", "b", "c\nd"}, "[|1|0 |1|0 abc|2|1 |1|0]"},
		{"empty line", 0, []string{"\n"}, "[|1|1]"},
		{"split before LF", 0, []string{"abc", "\nx\n"}, "[|3|0 abc|1|1 x|2|1]"},
		{"too long", 4, []string{"ab", "cde", "f\n"}, "[|2|0 |3|2 f|2|1]"},
		{"exactly max", 4, []string{"ab", "c\n"}, "[|2|0 abc|2|1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := Joiner{Max: c.max}
			var got []string
			for _, p := range c.pieces {
				q := []byte(p)
				for len(q) > 0 {
					l, k, st := j.Cut(q)
					got = append(got, fmt.Sprintf("%s|%d|%d", l, k, st))
					q = q[k:]
				}
			}
			if fmt.Sprint(got) != c.want {
				t.Fatalf("got %v, want %s", got, c.want)
			}
		})
	}
}

func TestJoinerReset(t *testing.T) {
	var j Joiner
	j.Cut([]byte("junk"))
	j.Reset()
	if l, _, st := j.Cut([]byte("ok\n")); st != Line || string(l) != "ok" {
		t.Fatalf("got %q %d", l, st)
	}
}
