package configs

import (
	"reflect"
	"testing"
)

func TestCompareChecks(t *testing.T) {
	on := "[compare]\nenabled = true\n" // lines 8-9 after copyOK
	noise := func(a string) string { return copyOK + "noise_target = \"" + a + "\"\n" + on }
	runProblemCases(t, []problemCase{
		{"enabled with defaults", copyOK + on, 0, "", "", false},
		{"noise target", noise("10.0.0.31:80"), 0, "", "", false},
		{"noise target bad address", noise("10.0.0.31"), 8, "copy.route[0].noise_target", "is not addr:port", false},
		{"noise target is to", noise("10.0.0.30:80"), 8, "copy.route[0].noise_target", "is the route's own to", false},
		{"noise target is production", noise("10.0.0.20:80"), 8, "copy.route[0].noise_target", "is copy.route[0].from, the online service", false},
		{"noise target loopback", noise("127.0.0.1:80"), 8, "copy.route[0].noise_target", "loopback address", false},
		{"noise target other family", noise("[2001:db8::1]:80"), 8, "copy.route[0].noise_target", "a route cannot change address family", false},
		{"noise target in client pool", withCopy("client_pool = \"10.0.0.0/24\"\n") + "noise_target = \"10.0.0.99:80\"\n" + on, 9, "copy.route[0].noise_target", "inside copy.client_pool", false},
		{"noise target without compare", copyOK + "noise_target = \"10.0.0.31:80\"\n", 8, "copy.route[0].noise_target", "[compare] is not enabled", false},
		{"noise target on an opted-out route", copyOK + "compare = false\nnoise_target = \"10.0.0.31:80\"\n" + on, 9, "copy.route[0].noise_target", "compare = false", false},
		{"compare without section", copyOK + "compare = true\n", 8, "copy.route[0].compare", "[compare] is not enabled", true},
		{"compare not a bool", copyOK + "compare = \"no\"\n", 8, "copy.route[0].compare", "must be true or false", false},
		{"store empty", copyOK + on + "store = \"\"\n", 10, "compare.store", "empty", false},
		{"max_disk small", copyOK + on + "max_disk = \"4KiB\"\n", 10, "compare.max_disk", "less than 1MiB", false},
		{"keep too large", copyOK + on + "keep = \"1MiB\"\n", 10, "compare.keep", "outside", false},
		{"queue zero", copyOK + on + "queue = 0\n", 10, "compare.queue", "out of range 1..", false},
		{"examples negative", copyOK + on + "examples = -1\n", 10, "compare.examples", "out of range 0..", false},
		{"bad header", copyOK + on + "ignore_headers = [\"Date\", \"X Bad\"]\n", 10, "compare.ignore_headers[1]", "\"X Bad\" is not an HTTP header name", false},
		{"bad json path", copyOK + on + "ignore_json = [\"$.a\", \"a[\"]\n", 10, "compare.ignore_json[1]", "\"a[\"", false},
		{"unknown key", copyOK + on + "ignore_header = []\n", 10, "compare.ignore_header", "ignore_headers", false},
	})
}

func TestCompareDefaultsAndRoutes(t *testing.T) {
	text := copyOK + "[[copy.route]]\nfrom = \"10.0.0.20:81\"\nto = \"10.0.0.30:81\"\ncompare = false\n" +
		"[[copy.route]]\nfrom = \"10.0.0.20:82\"\nto = \"10.0.0.30:82\"\nnoise_target = \"10.0.0.31:82\"\n" +
		"[compare]\nenabled = true\nignore_json = [\"$.ts\"]\nstore = \"results\"\n"
	c, err := Parse([]byte(text), "/etc/replaygw/c.toml")
	if err != nil {
		t.Fatal(err)
	}
	cmp := c.Compare
	if cmp.Store != "/etc/replaygw/results" || cmp.MaxDisk != DefaultCompareMaxDisk || cmp.Examples != DefaultCompareExamples ||
		cmp.Queue != DefaultCompareQueue || cmp.Keep != DefaultCompareKeep {
		t.Fatalf("defaults: %+v", cmp)
	}
	if want := []string{"Date", "Set-Cookie", "ETag", "Age", "X-Request-Id"}; !reflect.DeepEqual(cmp.IgnoreHeaders, want) {
		t.Fatalf("ignore_headers %q", cmp.IgnoreHeaders)
	}
	if got := []bool{c.Compares(0), c.Compares(1), c.Compares(2), c.Compares(3)}; !reflect.DeepEqual(got, []bool{true, false, true, false}) {
		t.Fatalf("Compares = %v", got)
	}
	if c.Copy.Routes[2].NoiseAddr.String() != "10.0.0.31:82" || c.Copy.Routes[0].NoiseAddr.IsValid() {
		t.Fatalf("noise addrs %v %v", c.Copy.Routes[2].NoiseAddr, c.Copy.Routes[0].NoiseAddr)
	}
	r := cmp.HTTPRules()
	if !r.NoDefaultHeaders || len(r.IgnoreHeaders) != 5 || r.IgnoreJSON[0] != "$.ts" {
		t.Fatalf("rules %+v", r)
	}
	// An empty list compares every header.
	c, err = Parse([]byte(copyOK+"[compare]\nenabled = true\nignore_headers = []\n"), "c.toml")
	if err != nil || len(c.Compare.IgnoreHeaders) != 0 {
		t.Fatalf("empty ignore_headers: %v, %q", err, c.Compare.IgnoreHeaders)
	}
	// Without [compare] nothing is compared.
	c, _ = Parse([]byte(copyOK), "c.toml")
	if c.Compares(0) {
		t.Fatal("compared without [compare]")
	}
}
