package integration

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/store"
)

// TestReportHTMLScreenshot: `replaygw report --html` on a store of known
// exchanges writes one self-contained page with its plots, and headless
// Chromium (Debian package chromium, installed by .ci/deps) renders them:
// the screenshot shows the latency CDFs (online blue, target red, each
// rising over most of its chart's height) and the diff-rate line (purple).
// The page and the screenshot are kept as artifacts, under $RGW_ARTIFACTS
// when set, else under the temp directory; the test prints where.
func TestReportHTMLScreenshot(t *testing.T) {
	if replaygwBin == "" {
		t.Skipf("the replaygw binary is built by TestMain as root only: %v", buildErr)
	}
	browser := chromiumPath()
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: .ci/deps installs the Debian package chromium; CI must run it")
		}
		t.Skip("chromium is not installed (Debian package chromium; .ci/deps installs it): skipping the screenshot test")
	}
	art := artifactDir(t)
	dir := reportStore(t, filepath.Join(t.TempDir(), "run"))
	page := filepath.Join(art, "report.html")
	out, err := exec.Command(replaygwBin, "report", "--store", dir, "--html", page).CombinedOutput()
	if err != nil {
		t.Fatalf("replaygw report --html: %v\n%s", err, out)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	checkPage(t, string(html))

	shot := filepath.Join(art, "report.png")
	os.Remove(shot)
	screenshot(t, browser, page, shot, 1280, 2000)
	t.Logf("artifacts: %s (page) and %s (screenshot)", page, shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2000 {
		t.Fatalf("screenshot is %v, want 1280x2000", b)
	}
	total := img.Bounds().Dx() * img.Bounds().Dy()
	if n := countPixels(img, func(r, g, b uint8) bool { return r < 235 || g < 235 || b < 235 }); n < total/100 {
		t.Fatalf("screenshot nearly blank: %d of %d pixels not white", n, total)
	}
	// The online CDF is the one blue line that rises: the longest run of
	// rows with blue pixels is its chart's height. The target's CDF rises
	// in the same band; the diff rate is drawn below.
	blue := colourRows(img, 0x1f, 0x77, 0xb4)
	y0, y1 := longestRun(blue)
	if y1-y0 < 150 {
		t.Fatalf("online CDF (#1f77b4): the longest run of rows with its colour is %d..%d, want 150+ rows", y0, y1)
	}
	red := colourRows(img, 0xd6, 0x27, 0x28)
	if n := countTrue(red[y0:y1]); n < (y1-y0)*6/10 {
		t.Errorf("target CDF (#d62728): on %d of the CDF's %d rows, want 60%%+", n, y1-y0)
	}
	if n := countTrue(colourRows(img, 0x94, 0x67, 0xbd)[y1:]); n < 20 {
		t.Errorf("diff rate (#9467bd): on %d rows below the CDF, want 20+", n)
	}
	t.Logf("CDF chart on rows %d..%d; target CDF on %d of them", y0, y1, countTrue(red[y0:y1]))
}

// reportStore writes 600 exchanges: GET /users/{id} answered alike but
// for a status on every 50th, GET /slow/{id} 20 ms slower on the target
// with a body difference on every 10th; latencies spread 2..32 ms.
func reportStore(t *testing.T, dir string) string {
	t.Helper()
	w, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for i := range 600 {
		on := 2 + float64(i*7%300)/10
		r := store.Result{Time: t0.Add(time.Duration(i) * 200 * time.Millisecond), Session: "s", Request: i,
			Protocol: "http", Endpoint: fmt.Sprintf("GET /users/%d", i), OnlineMs: on, TargetMs: on + 0.5}
		r.Diff.Offset = -1
		if i%50 == 0 {
			r.Diff = compare.Diff{Kinds: compare.Status, Fields: []compare.Field{{Kind: compare.Status}}, Desc: "status 200 vs 500", Offset: 9}
			r.TargetError = true
			r.Example = &store.Payloads{Online: []byte("HTTP/1.1 200 OK\r\n\r\n"), Target: []byte("HTTP/1.1 500 Oops\r\n\r\n")}
		}
		if i%3 == 0 {
			r.Endpoint = fmt.Sprintf("GET /slow/%d", i)
			r.TargetMs = on + 20
			if i%10 == 0 && i%50 != 0 {
				r.Diff = compare.Diff{Kinds: compare.Body, Fields: []compare.Field{{Kind: compare.Body, Name: "$.name"}}, Desc: "body differs", Offset: 10}
				r.Example = &store.Payloads{Online: []byte(`{"name":"a"}`), Target: []byte(`{"name":"b"}`)}
			}
		}
		if !w.Put(r) {
			t.Fatalf("result %d dropped", i)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkPage: the plots are inline SVG polylines in the CDF colours, and
// nothing is fetched from anywhere.
func checkPage(t *testing.T, html string) {
	t.Helper()
	if n := strings.Count(html, "<svg"); n < 2 {
		t.Errorf("%d <svg> elements, want the CDF and the timeline", n)
	}
	for _, colour := range []string{"#1f77b4", "#d62728", "#9467bd"} {
		re := regexp.MustCompile(`<polyline fill="none" stroke="` + colour + `" stroke-width="2" points="([^"]+)"`)
		m := re.FindStringSubmatch(html)
		if m == nil || len(strings.Fields(m[1])) < 10 {
			t.Errorf("no polyline of %d+ points in %s", 10, colour)
		}
	}
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("the page is not self-contained: it has %q", bad)
		}
	}
	for _, want := range []string{"GET /slow/{id}", "GET /users/{id}", "<mark>"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// chromiumPath is the headless browser's binary, "" when absent.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where the test keeps what it shows: $RGW_ARTIFACTS, or
// a fixed directory under the temp directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RGW_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "replaygw-artifacts")
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot renders page with headless Chromium into png, in a network
// namespace of its own with nothing but a loopback (the page needs no
// network, and the browser's background requests go nowhere), with its
// profile in a temp directory, bounded in time.
func screenshot(t *testing.T, browser, page, shot string, w, h int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	args := []string{"--net", "--"}
	if os.Geteuid() != 0 {
		args = []string{"--net", "--map-root-user", "--"}
	}
	args = append(args, browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--user-data-dir="+profile,
		"--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", w, h), "file://"+page)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if _, serr := os.Stat(shot); serr != nil {
			t.Fatalf("chromium --screenshot: %v\n%s", err, out.String())
		}
		t.Logf("chromium exited with %v after writing the screenshot", err)
	}
}

// countPixels counts the pixels whose 8-bit colour satisfies f.
func countPixels(img image.Image, f func(r, g, b uint8) bool) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if f(uint8(r>>8), uint8(g>>8), uint8(bl>>8)) {
				n++
			}
		}
	}
	return n
}

// colourRows reports, for each row of img, whether a pixel in it is
// close to (r, g, b) (anti-aliased edges included).
func colourRows(img image.Image, r, g, b uint8) []bool {
	near := func(a, c uint8) bool { return int(a)-int(c) <= 40 && int(c)-int(a) <= 40 }
	bd := img.Bounds()
	rows := make([]bool, bd.Dy())
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X && !rows[y-bd.Min.Y]; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			rows[y-bd.Min.Y] = near(uint8(pr>>8), r) && near(uint8(pg>>8), g) && near(uint8(pb>>8), b)
		}
	}
	return rows
}

// longestRun is the longest run of true rows, [y0, y1).
func longestRun(rows []bool) (y0, y1 int) {
	start := -1
	for y := 0; y <= len(rows); y++ {
		if y < len(rows) && rows[y] {
			if start < 0 {
				start = y
			}
			continue
		}
		if start >= 0 && y-start > y1-y0 {
			y0, y1 = start, y
		}
		start = -1
	}
	return y0, y1
}

func countTrue(rows []bool) int {
	n := 0
	for _, r := range rows {
		if r {
			n++
		}
	}
	return n
}
