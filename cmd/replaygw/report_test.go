package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/store"
)

// runStore writes one run of n exchanges under parent/name: every 10th
// differs in status.
func runStore(t *testing.T, parent, name string, n int) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	w, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for i := range n {
		var d compare.Diff
		if i%10 == 0 {
			d.Kinds = compare.Status
			d.Fields = []compare.Field{{Kind: compare.Status}}
		}
		w.Put(store.Result{Time: t0.Add(time.Duration(i) * time.Second), Request: i, Protocol: "redis",
			Endpoint: "GET", OnlineMs: 1, TargetMs: 2, Diff: d})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReport(t *testing.T) {
	root := t.TempDir()
	runs := filepath.Join(root, "compare")
	runStore(t, runs, "20261207T050000Z", 10)
	latest := runStore(t, runs, "20261207T060000Z", 50)
	empty := runStore(t, root, "empty", 0)
	if err := os.MkdirAll(filepath.Join(root, "nothing"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The config names the store relative to its own directory.
	cfg := write(t, root, "gw.toml", gatewayTOML+"[compare]\nenabled = true\nstore = \"compare\"\n")
	page := filepath.Join(root, "report.html")
	tests := []struct {
		name           string
		args           []string
		want           int
		stdout, stderr string
	}{
		{"text from the config's store", []string{"report", "--config", cfg}, 0, "run        " + latest, ""},
		{"text counts", []string{"report", "-c", cfg}, 0, "exchanges  50 (stored 50", ""},
		{"json", []string{"report", "--json", "--store", runs}, 0, `"exchanges": 50`, ""},
		{"html", []string{"report", "--html", page, "--store", latest}, 0, "", "wrote " + page + " from " + latest},
		{"no store", []string{"report", "--store", filepath.Join(root, "nope")}, 1, "", "nope: no such directory"},
		{"empty store", []string{"report", "--store", filepath.Join(root, "nothing")}, 1, "", "empty store: no comparison run"},
		{"a run with nothing compared", []string{"report", "--store", empty}, 1, "", "empty store: the run compared no exchanges"},
		{"no config", []string{"report", "--config", filepath.Join(root, "none.toml")}, 1, "", "(or pass --store DIR)"},
		{"bad top", []string{"report", "--store", latest, "--top", "0"}, 1, "", "--top 0: want at least 1"},
		{"html to a bad path", []string{"report", "--store", latest, "--html", filepath.Join(root, "nope", "x.html")}, 1, "", "--html: open"},
		{"arguments", []string{"report", "--store", latest, "extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := capture(t)
			got := run(tt.args)
			stdout, stderr := read()
			if got != tt.want || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("replaygw %v: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q / %q", tt.args, got, tt.want, stdout, stderr, tt.stdout, tt.stderr)
			}
		})
	}
	// The JSON summary carries the fields the issue names.
	read := capture(t)
	if got := run([]string{"report", "--json", "--store", latest}); got != 0 {
		t.Fatalf("exit %d", got)
	}
	stdout, _ := read()
	var sum struct {
		Exchanges, Differing int64
		ByKind               map[string]int64              `json:"by_kind"`
		LatencyMs            map[string]map[string]float64 `json:"latency_ms"`
		Endpoints            []struct {
			Key                  string
			Exchanges, Differing int64
		}
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if sum.Exchanges != 50 || sum.Differing != 5 || sum.ByKind["status"] != 5 || sum.LatencyMs["target"]["p50"] != 2 ||
		len(sum.Endpoints) != 1 || sum.Endpoints[0].Key != "GET" || sum.Endpoints[0].Differing != 5 {
		t.Fatalf("summary %+v", sum)
	}
	b, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(b), "<svg") || strings.Contains(string(b), "<script") {
		t.Fatalf("page: %v, %d bytes, svg %v", err, len(b), strings.Contains(string(b), "<svg"))
	}
}
