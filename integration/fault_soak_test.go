package integration

// The soak (`make soak`, issue 14): the real gateway and copier under a
// steady mixed load (half the requests on one-request connections, half on
// keep-alive connections of 100) for a long time; replay success, the
// copier's RSS at the start, the middle and the end, and the sessions it
// still holds after the load.
//
//	RGW_SOAK=1 go test ./integration -run '^TestSoak$' -count=1 -v -timeout 30m
//
// RGW_SOAK_SECONDS (default 600, at most 3600) and RGW_SOAK_RATE (default
// 2000 requests per second) change the run. TestSoakShort, the CI version,
// runs 30 s at 200 requests per second under plain `go test` and asserts
// >= 99.9 % replayed and no session left.

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// soakResult is what a soak measured.
type soakResult struct {
	row              faultRow
	rss              [3]int64 // KiB: start, middle, end
	achievedPerSec   float64
	sessionsMidpoint float64
}

func runSoak(t *testing.T, rate float64, d time.Duration) soakResult {
	f := newFaultRig(t)
	pid := f.CP.Pid()
	rss := func() int64 {
		v, err := procStatusKiB(pid, "VmRSS")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var res soakResult
	res.rss[0] = rss()
	lo := mixedLoad(f.Lab.Addr(lab.Online).String()+":80", "soak", rate, d)
	// The mid-run sample runs on the test goroutine, as a "fault" at
	// mid-load.
	res.row = f.run("soak", lo, true, func() string {
		res.rss[1] = rss()
		res.sessionsMidpoint = f.sessionsOpen()
		return ""
	})
	res.rss[2] = rss()
	res.achievedPerSec = float64(res.row.answered) / res.row.load.Seconds()
	t.Logf("soak: %.0f s at %.0f req/s planned (%.0f achieved), mixed: %s; copier RSS start %.1f MiB, middle %.1f MiB (%.0f sessions open), end %.1f MiB",
		d.Seconds(), rate, res.achievedPerSec, res.row.line(),
		float64(res.rss[0])/1024, float64(res.rss[1])/1024, res.sessionsMidpoint, float64(res.rss[2])/1024)
	return res
}

func TestSoak(t *testing.T) {
	if os.Getenv("RGW_SOAK") == "" {
		t.Skip("soak: set RGW_SOAK=1 to run it (make soak; see docs/reliability.md)")
	}
	seconds, rate := 600, 2000.0
	if v, err := strconv.Atoi(os.Getenv("RGW_SOAK_SECONDS")); err == nil && v > 0 {
		seconds = min(v, 3600)
	}
	if v, err := strconv.ParseFloat(os.Getenv("RGW_SOAK_RATE"), 64); err == nil && v > 0 {
		rate = min(v, 20000)
	}
	runSoak(t, rate, time.Duration(seconds)*time.Second)
}

// TestSoakShort is the soak's CI part: 30 s at 200 requests per second.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace lab with the real roles")
	}
	res := runSoak(t, 200, 30*time.Second)
	if s := res.row.success(); s < 99.9 {
		t.Errorf("soak: replay success %.3f%% < 99.9%%", s)
	}
	if res.row.sessionsLeft != 0 {
		t.Errorf("soak: %.0f sessions left after the load", res.row.sessionsLeft)
	}
	if res.row.answered < 30*200*99/100 {
		t.Errorf("soak: online answered %d of %d", res.row.answered, 30*200)
	}
}
