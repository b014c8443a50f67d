package report

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/compare/store"
)

func TestRun(t *testing.T) {
	mk := func(t *testing.T, dir string, files ...string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("{}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, root string)
		dir   string // under root; "" is root
		want  string // the run found, under root
		err   string
	}{
		{"a run itself", func(t *testing.T, r string) { mk(t, r, store.CountsFile) }, "", "", ""},
		{"the latest run", func(t *testing.T, r string) {
			mk(t, filepath.Join(r, "20261206T100000Z"), store.CountsFile)
			mk(t, filepath.Join(r, "20261206T110000Z"), store.CountsFile)
			mk(t, filepath.Join(r, "20261206T110000Z-2"), store.CountsFile)
			mk(t, filepath.Join(r, "20261206T110000Z-10"), store.CountsFile)
			mk(t, filepath.Join(r, "notes"))
		}, "", "20261206T110000Z-10", ""},
		{"missing", func(t *testing.T, r string) {}, "nope", "", "nope: no such directory"},
		{"a file", func(t *testing.T, r string) { mk(t, r, "f") }, "f", "", "not a directory"},
		{"empty store", func(t *testing.T, r string) { mk(t, filepath.Join(r, "junk")) }, "", "", "empty store: no comparison run"},
		{"in progress", func(t *testing.T, r string) {
			mk(t, filepath.Join(r, "20261206T100000Z"), "results-000001.jsonl")
		}, "", "", "20261206T100000Z: no counts.json yet: the run is still going"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			c.setup(t, root)
			got, err := Run(filepath.Join(root, c.dir))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != filepath.Join(root, c.want) {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	dir, want := synthetic(t, 1000)
	s, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteText(&b, s, 1); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{
		"exchanges  1000 (stored 1000",
		"differing  " + itoa(want["differing"]),
		"status " + itoa(want["status"]) + ", headers " + itoa(want["headers"]) + ", body " + itoa(want["body"]),
		"online", "target", "endpoint (most differing first)", "fields that differ most",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("text lacks %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "GET /"); n != 1 {
		t.Errorf("%d endpoint rows, want 1 (top 1):\n%s", n, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
