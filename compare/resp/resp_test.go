package resp

import (
	"strings"
	"testing"
)

// replies covers every type; each entry is one top-level reply.
var replies = []struct {
	name, wire, want string // want: render() of the value
}{
	{"simple", "+OK\r\n", "+OK"},
	{"error", "-ERR unknown command\r\n", "-ERR unknown command"},
	{"integer", ":-42\r\n", ":-42"},
	{"blob", "$5\r\nhe\r\no\r\n", "$he\r\no"},
	{"empty blob", "$0\r\n\r\n", "$"},
	{"null blob", "$-1\r\n", "$null"},
	{"null array", "*-1\r\n", "*null"},
	{"array", "*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n", "*[:1 $a *[+x]]"},
	{"null", "_\r\n", "_null"},
	{"double", ",3.14\r\n", ",3.14"},
	{"double inf", ",-inf\r\n", ",-inf"},
	{"boolean", "#t\r\n", "#1"},
	{"blob error", "!9\r\nSYNTAX no\r\n", "!SYNTAX no"},
	{"verbatim", "=8\r\ntxt:abcd\r\n", "=txt:abcd"},
	{"big number", "(3492890328409238509324850943850943825024385\r\n", "(3492890328409238509324850943850943825024385"},
	{"map", "%2\r\n+a\r\n:1\r\n+b\r\n#f\r\n", "%[+a :1 +b #0]"},
	{"set", "~2\r\n+x\r\n+y\r\n", "~[+x +y]"},
	{"attribute", "|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n", "$val attr=|[+ttl :3600]"},
	{"streamed string", "$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n", "$Hello"},
	{"streamed array", "*?\r\n:1\r\n:2\r\n.\r\n", "*[:1 :2]"},
	{"streamed map", "%?\r\n+k\r\n+v\r\n.\r\n", "%[+k +v]"},
	{"push", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", ">[$message $ch $hi]"},
}

func render(v Value) string {
	var s string
	switch {
	case v.Null:
		s = string(v.Type) + "null"
	case v.Type == ':' || v.Type == '#':
		s = string(v.Type) + itoa(v.Int)
	case v.Elems != nil || strings.ContainsRune("*~>%|", rune(v.Type)):
		parts := make([]string, len(v.Elems))
		for i, e := range v.Elems {
			parts[i] = render(e)
		}
		s = string(v.Type) + "[" + strings.Join(parts, " ") + "]"
	default:
		s = string(v.Type) + string(v.Str)
	}
	if v.Attr != nil {
		s += " attr=" + render(*v.Attr)
	}
	return s
}

func itoa(n int64) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestEveryTypeAtEverySplit(t *testing.T) {
	var stream string
	for _, r := range replies {
		stream += r.wire
	}
	for i := 0; i <= len(stream); i++ {
		for _, step := range []int{0, 1} { // two pieces; or byte by byte after i
			f := NewFramer(0)
			if err := f.Feed([]byte(stream[:i])); err != nil {
				t.Fatalf("split %d: %v", i, err)
			}
			rest := stream[i:]
			for len(rest) > 0 {
				n := len(rest)
				if step == 1 {
					n = 1
				}
				if err := f.Feed([]byte(rest[:n])); err != nil {
					t.Fatalf("split %d: %v", i, err)
				}
				rest = rest[n:]
			}
			off := 0
			for k, r := range replies {
				got, ok := f.Next()
				if !ok {
					t.Fatalf("split %d: reply %d (%s) missing", i, k, r.name)
				}
				if render(got.Value) != r.want || string(got.Raw) != r.wire || int(got.Offset) != off {
					t.Fatalf("split %d: %s: got %q raw %q at %d", i, r.name, render(got.Value), got.Raw, got.Offset)
				}
				if got.Push != (r.name == "push") {
					t.Fatalf("split %d: %s: push = %v", i, r.name, got.Push)
				}
				off += len(r.wire)
			}
			if _, ok := f.Next(); ok || f.Pending() != 0 {
				t.Fatalf("split %d: extra replies or %d bytes left", i, f.Pending())
			}
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct{ name, wire, want string }{
		{"unknown type", "?x\r\n", "unknown type byte"},
		{"bad integer", ":12a\r\n", "bad integer"},
		{"bad length", "$-5\r\n", "bad length"},
		{"blob without crlf", "$2\r\nabcd\r\n", "not followed by CRLF"},
		{"bad boolean", "#x\r\n", "bad boolean"},
		{"bad double", ",abc\r\n", "bad double"},
		{"verbatim without format", "=3\r\nabc\r\n", "format prefix"},
		{"odd streamed map", "%?\r\n+k\r\n.\r\n", "bad end of streamed"},
		{"bad chunk", "$?\r\nx\r\n", "want ';'"},
		{"null map", "%-1\r\n", "null length"},
		{"second reply bad", "+OK\r\n&\r\n", "offset 5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := NewFramer(0)
			err := f.Feed([]byte(c.wire))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "stream offset") {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	f := NewFramer(16)
	if err := f.Feed([]byte("$100\r\n" + strings.Repeat("x", 20))); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("err = %v", err)
	}
	deep := strings.Repeat("*1\r\n", maxDepth+2) + ":1\r\n"
	if err := NewFramer(0).Feed([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Fatalf("err = %v", err)
	}
}

func TestFirstDiff(t *testing.T) {
	one := func(s string) Value {
		f := NewFramer(0)
		if err := f.Feed([]byte(s)); err != nil {
			t.Fatal(err)
		}
		r, _ := f.Next()
		return r.Value
	}
	cases := []struct{ a, b, path, what string }{
		{"+OK\r\n", "+OK\r\n", "", ""},
		{"+OK\r\n", "-ERR\r\n", "", "type '+' vs '-'"},
		{"*2\r\n:1\r\n:2\r\n", "*2\r\n:1\r\n:3\r\n", "[1]", "2 vs 3"},
		{"*1\r\n*1\r\n$1\r\na\r\n", "*1\r\n*1\r\n$1\r\nb\r\n", "[0][0]", `"a" vs "b"`},
		{"*1\r\n:1\r\n", "*2\r\n:1\r\n:1\r\n", "", "1 vs 2 elements"},
		{"$-1\r\n", "$0\r\n\r\n", "", "null true vs false"},
		{"|1\r\n+a\r\n:1\r\n+x\r\n", "|1\r\n+a\r\n:2\r\n+x\r\n", "attr[1]", "1 vs 2"},
	}
	for _, c := range cases {
		p, w := FirstDiff(one(c.a), one(c.b))
		if p != c.path || w != c.what {
			t.Errorf("%q vs %q: got %q %q, want %q %q", c.a, c.b, p, w, c.path, c.what)
		}
	}
}
