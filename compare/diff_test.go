package compare

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/compare/httpframe"
	"github.com/replaygw/replaygw/compare/resp"
)

func response(status int, headers string, body string) *httpframe.Response {
	h := http.Header{}
	for _, kv := range strings.Split(headers, "|") {
		if k, v, ok := strings.Cut(kv, ":"); ok {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return &httpframe.Response{Status: status, Header: h, Body: []byte(body)}
}

func TestHTTPDiff(t *testing.T) {
	rules := HTTPRules{IgnoreHeaders: []string{"x-trace"}, IgnoreJSON: []string{"$.meta.ts", "items[*].id"}}
	h, err := NewHTTP(rules)
	if err != nil {
		t.Fatal(err)
	}
	js := "Content-Type: application/json"
	cases := []struct {
		name     string
		on, tg   *httpframe.Response
		kinds    Kind
		fields   []Field
		offset   int
		descPart string
	}{
		{"same", response(200, js, `{"a":1}`), response(200, js, `{"a":1}`), 0, nil, -1, ""},
		{"status", response(200, "", "x"), response(500, "", "x"), Status, []Field{{Status, ""}}, -1, "status 200 vs 500"},
		{"default ignored headers", response(200, "Date: 1|Set-Cookie: a|ETag: x|Age: 1|X-Request-Id: 1|X-Trace: 1", ""),
			response(200, "date: 2|set-cookie: b|Etag: y|age: 2|x-request-id: 2|x-trace: 2", ""), 0, nil, -1, ""},
		{"framing headers not compared", response(200, "Content-Length: 5", "hello"),
			response(200, "Transfer-Encoding: chunked", "hello"), 0, nil, -1, ""},
		{"extra header", response(200, "", ""), response(200, "X-New: 1", ""), Headers, []Field{{Headers, "x-new"}}, -1, "only on target"},
		{"missing header", response(200, "Cache-Control: no-cache", ""), response(200, "", ""), Headers, []Field{{Headers, "cache-control"}}, -1, "missing on target"},
		{"header value, case-insensitive name", response(200, "content-type: text/plain", "a"), response(200, "Content-Type: text/html", "a"),
			Headers, []Field{{Headers, "content-type"}}, -1, `"text/plain" vs "text/html"`},
		{"raw body", response(200, "", "hello world"), response(200, "", "hello there"), Body, []Field{{Body, ""}}, 6, "byte 6"},
		{"raw body size", response(200, "", "abc"), response(200, "", "abcdef"), Body, []Field{{Body, ""}}, 3, "3 vs 6 bytes"},
		{"json member order and numbers", response(200, js, `{"a":1,"b":[1,2.50]}`), response(200, js, `{"b":[1e0,2.5],"a":1.0}`), 0, nil, -1, ""},
		{"json ignored fields", response(200, js, `{"meta":{"ts":1},"items":[{"id":1,"n":"x"},{"id":2,"n":"y"}]}`),
			response(200, js, `{"meta":{"ts":99999},"items":[{"id":7,"n":"x"},{"id":8,"n":"y"}]}`), 0, nil, -1, ""},
		{"json ignored member on one side only", response(200, js, `{"meta":{"ts":1}}`), response(200, js, `{"meta":{}}`), 0, nil, -1, ""},
		{"json field differs", response(200, js, `{"items":[{"id":1,"n":"x"},{"id":2,"n":"y"}]}`),
			response(200, js, `{"items":[{"id":1,"n":"x"},{"id":2,"n":"z"}]}`), Body, []Field{{Body, "$.items[*].n"}}, 40, "$.items[1].n: y vs z"},
		{"json type and array order", response(200, js, `{"a":[1,2],"b":"1"}`), response(200, js, `{"a":[2,1],"b":1}`),
			Body, []Field{{Body, "$.a[*]"}, {Body, "$.b"}}, 6, "$.a[0]: 1 vs 2"},
		{"json missing member", response(200, js, `{"a":1,"odd key":2}`), response(200, js, `{"a":1}`), Body, []Field{{Body, `$["odd key"]`}}, 6, "missing on target"},
		{"not json on one side", response(200, js, `{"a":1}`), response(200, "Content-Type: text/html", `<a>`), Headers | Body,
			[]Field{{Headers, "content-type"}, {Body, ""}}, 0, "body differs"},
		{"all kinds", response(200, "X-A: 1", "a"), response(404, "X-A: 2", "b"), Status | Headers | Body,
			[]Field{{Status, ""}, {Headers, "x-a"}, {Body, ""}}, 0, "status 200 vs 404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := h.Diff(c.on, c.tg)
			if d.Kinds != c.kinds || !reflect.DeepEqual(d.Fields, c.fields) || d.Offset != c.offset || !strings.Contains(d.Desc, c.descPart) {
				t.Fatalf("got kinds %v fields %v offset %d desc %q\nwant kinds %v fields %v offset %d desc containing %q",
					d.Kinds, d.Fields, d.Offset, d.Desc, c.kinds, c.fields, c.offset, c.descPart)
			}
			if d.OnlineSize != len(c.on.Body) || d.TargetSize != len(c.tg.Body) {
				t.Fatalf("sizes %d %d", d.OnlineSize, d.TargetSize)
			}
		})
	}
}

func TestNoDefaultHeaders(t *testing.T) {
	h, err := NewHTTP(HTTPRules{NoDefaultHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	d := h.Diff(response(200, "Date: 1", ""), response(200, "Date: 2", ""))
	if d.Kinds != Headers || d.Fields[0].Name != "date" {
		t.Fatalf("got %+v", d)
	}
}

func TestJSONPathParse(t *testing.T) {
	good := map[string]string{
		"$.meta.ts":   "$.meta.ts",
		"items[*].id": "$.items[*].id",
		"$['a b'][2]": `$["a b"][*]`,
		"$.*.x":       `$["*"].x`,
		"a[0][*]":     "$.a[*][*]",
	}
	for in, want := range good {
		p, err := parseJSONPath(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		at := make([]step, len(p))
		for i, s := range p {
			at[i] = step{key: s.key, index: max(s.index, -1)}
			if s.index == -2 {
				at[i].index = 0
			}
		}
		if got := render(at, true); got != want {
			t.Errorf("%q: rendered %q, want %q", in, got, want)
		}
		if !p.matches(at) {
			t.Errorf("%q does not match its own path", in)
		}
	}
	for _, bad := range []string{"", "$", "a..b", "a[x]", "a[-1]", "a[1"} {
		if _, err := NewHTTP(HTTPRules{IgnoreJSON: []string{"$.ok", bad}}); err == nil || !strings.Contains(err.Error(), "ignore_json[1]") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestRESPDiff(t *testing.T) {
	reply := func(s string) resp.Reply {
		f := resp.NewFramer(0)
		if err := f.Feed([]byte(s)); err != nil {
			t.Fatal(err)
		}
		r, _ := f.Next()
		return r
	}
	cases := []struct {
		a, b   string
		kinds  Kind
		field  string
		offset int
	}{
		{"+OK\r\n", "+OK\r\n", 0, "", -1},
		{"+OK\r\n", "-ERR x\r\n", Status, "", 0},
		{"$1\r\na\r\n", ":1\r\n", Status, "", 0},
		{"*2\r\n:1\r\n:2\r\n", "*2\r\n:1\r\n:3\r\n", Body, "[1]", 9},
		{"$3\r\nabc\r\n", "$3\r\nabd\r\n", Body, "", 6},
	}
	for _, c := range cases {
		d := RESP(reply(c.a), reply(c.b))
		if d.Kinds != c.kinds || d.Offset != c.offset || (c.kinds != 0 && d.Fields[0].Name != c.field) {
			t.Errorf("%q vs %q: got %+v", c.a, c.b, d)
		}
	}
}

func TestBytesAndMySQL(t *testing.T) {
	if d := Bytes([]byte("abc"), []byte("abc")); !d.Same() || d.Offset != -1 {
		t.Fatalf("equal bytes: %+v", d)
	}
	if d := Bytes([]byte("abc"), []byte("abX")); d.Kinds != Body || d.Offset != 2 {
		t.Fatalf("differing bytes: %+v", d)
	}
	if d := Bytes([]byte("ab"), []byte("abc")); d.Offset != 2 || d.TargetSize != 3 {
		t.Fatalf("prefix: %+v", d)
	}
	rows := MySQLResult{Class: "rows", Columns: 3, Rows: 10, Digest: "aa", Meta: "m1"}
	cases := []struct {
		tg    MySQLResult
		kinds Kind
		field string
	}{
		{rows, 0, ""},
		// Another class is that one difference: an ERR has no columns or rows.
		{MySQLResult{Class: "err", ErrCode: 1146}, Status, "class"},
		{MySQLResult{Class: "ok", AffectedRows: 3}, Status, "class"},
		{MySQLResult{Class: "rows", Columns: 4, Rows: 10, Digest: "aa"}, Headers, "columns"},
		// Another column count changes the digest: not a second difference.
		{MySQLResult{Class: "rows", Columns: 4, Rows: 10, Digest: "bb"}, Headers, "columns"},
		{MySQLResult{Class: "rows", Columns: 4, Rows: 9, Digest: "bb"}, Headers | Body, "columns"},
		// Column definitions: compared when both servers sent them.
		{MySQLResult{Class: "rows", Columns: 3, Rows: 10, Digest: "aa", Meta: "m2"}, Headers, "column_defs"},
		{MySQLResult{Class: "rows", Columns: 3, Rows: 10, Digest: "aa"}, 0, ""},
		{MySQLResult{Class: "rows", Columns: 3, Rows: 11, Digest: "bb"}, Body, "rows"},
		{MySQLResult{Class: "rows", Columns: 3, Rows: 10, Digest: "bb"}, Body, "digest"},
	}
	for _, c := range cases {
		d := MySQL(rows, c.tg)
		if d.Kinds != c.kinds || (c.kinds != 0 && d.Fields[0].Name != c.field) {
			t.Errorf("%+v: got %+v", c.tg, d)
		}
	}
	e := MySQLResult{Class: "err", ErrCode: 1062}
	if d := MySQL(e, MySQLResult{Class: "err", ErrCode: 1213}); d.Kinds != Status || d.Fields[0].Name != "err_code" {
		t.Errorf("error codes: %+v", d)
	}
	if d := MySQL(MySQLResult{Class: "ok", AffectedRows: 1}, MySQLResult{Class: "ok", AffectedRows: 2}); d.Kinds != Body {
		t.Errorf("affected rows: %+v", d)
	}
}

func TestClassifyNoise(t *testing.T) {
	h, _ := NewHTTP(HTTPRules{})
	js := "Content-Type: application/json"
	prod := response(200, js+"|X-Build: 1", `{"ts":1,"v":"a","n":1}`)
	target := response(200, js+"|X-Build: 2", `{"ts":2,"v":"b","n":1}`)
	twin := response(200, js+"|X-Build: 1", `{"ts":3,"v":"a","n":1}`) // same build as prod: only ts moves
	d := Classify(h.Diff(prod, target), h.Diff(prod, twin))
	if d.Kinds != Headers|Body || !reflect.DeepEqual(d.Fields, []Field{{Headers, "x-build"}, {Body, "$.v"}}) ||
		!reflect.DeepEqual(d.Noise, []Field{{Body, "$.ts"}}) {
		t.Fatalf("got %+v", d)
	}
	// Everything the target shows is noise: no real difference left.
	d = Classify(h.Diff(prod, twin), h.Diff(prod, response(200, js+"|X-Build: 1", `{"ts":4,"v":"a","n":1}`)))
	if !d.Same() || d.Offset != -1 || len(d.Noise) != 1 {
		t.Fatalf("all noise: %+v", d)
	}
}

func TestKindJSON(t *testing.T) {
	b, err := (Status | Body).MarshalJSON()
	if err != nil || string(b) != `["status","body"]` {
		t.Fatalf("%s %v", b, err)
	}
	var k Kind
	if err := k.UnmarshalJSON(b); err != nil || k != Status|Body {
		t.Fatalf("%v %v", k, err)
	}
	if err := k.UnmarshalJSON([]byte(`["colour"]`)); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("err = %v", err)
	}
}
