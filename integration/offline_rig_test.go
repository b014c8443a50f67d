package integration

// The offline tests' rig: a target server that also notes when each
// request arrived, and a runner for `replaygw replay` in a namespace.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// arrivalTarget is an IDServer on the target's :80 that also records the
// arrival time of every request.
type arrivalTarget struct {
	*lab.IDServer
	srv *http.Server

	mu      sync.Mutex
	arrived map[string]time.Time
}

// newArrivalTarget serves on target:80. The IDServer itself listens on an
// unused loopback port: its ServeHTTP does the id bookkeeping.
func newArrivalTarget(l *lab.Lab) (*arrivalTarget, error) {
	spare, err := l.Listen(lab.Target, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ln, err := l.Listen(lab.Target, "tcp", ":80")
	if err != nil {
		spare.Close()
		return nil, err
	}
	a := &arrivalTarget{IDServer: lab.NewIDServer(spare, lab.IDServerOptions{}), arrived: map[string]time.Time{}}
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

func (a *arrivalTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if id := lab.RequestID(r); id != "" {
		a.mu.Lock()
		if _, ok := a.arrived[id]; !ok {
			a.arrived[id] = now
		}
		a.mu.Unlock()
	}
	a.IDServer.ServeHTTP(w, r)
}

// span is the time between the first and the last arrival of ids.
func (a *arrivalTarget) span(ids []string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var first, last time.Time
	for _, id := range ids {
		t, ok := a.arrived[id]
		if !ok {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	return last.Sub(first)
}

func (a *arrivalTarget) Close() error {
	err := a.srv.Close()
	return errors.Join(err, a.IDServer.Close())
}

// freshTarget replaces the target server of the lab with a new one (no ids
// seen) and closes it at the end of the test.
func freshTarget(t *testing.T, l *lab.Lab) *arrivalTarget {
	t.Helper()
	a, err := newArrivalTarget(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// replayRun is the outcome of one `replaygw replay`.
type replayRun struct {
	stdout, stderr string
	err            error // exit status
	wall           time.Duration
}

// runReplay runs `replaygw replay --config cfg --no-progress args... file`
// in host's namespace, bounded by limit.
func runReplay(l *lab.Lab, h lab.Host, bin, cfg, file string, limit time.Duration, args ...string) replayRun {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	argv := append([]string{bin, "replay", "--config", cfg, "--no-progress", "--drain", "5s"}, args...)
	cmd := l.ExecContext(ctx, h, append(argv, file)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	return replayRun{stdout: out.String(), stderr: errb.String(), err: err, wall: time.Since(start)}
}

// exitCode is the exit status of a finished run (-1: did not exit normally).
func (r replayRun) exitCode() int {
	var ee *exec.ExitError
	if r.err == nil {
		return 0
	}
	if errors.As(r.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// crashed reports whether the run died of a Go panic or a signal.
func (r replayRun) crashed() bool {
	return r.exitCode() < 0 || r.exitCode() == 2 && strings.Contains(r.stderr, "goroutine ") ||
		strings.Contains(r.stderr, "panic:") || strings.Contains(r.stdout, "panic:")
}

func (r replayRun) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout:\n%s\nstderr:\n%s", r.exitCode(), r.wall.Round(time.Millisecond), r.stdout, r.stderr)
}

var (
	reSummaryPlayed = regexp.MustCompile(`played (\S+) of capture time in (\S+)(?: \((\d+) packets/s)?`)
	reSummaryRead   = regexp.MustCompile(`replay: (\d+) packets delivered of (\d+) read`)
	reWall          = regexp.MustCompile(`wall time: (\S+)`)
	reSessions      = regexp.MustCompile(`sessions:\s+(\d+) started, (\d+) ended \(([^)]*)\)`)
)

// replayNumbers is what the replay's summary says.
type replayNumbers struct {
	span, played, wall time.Duration
	packetsPerSec      int
	delivered          int
	started, ended     int
	replayed           int // sessions of fate "replayed"
	summaryWasReadable bool
}

func parseReplay(stdout string) replayNumbers {
	var n replayNumbers
	if m := reSummaryPlayed.FindStringSubmatch(stdout); m != nil {
		n.span, _ = time.ParseDuration(m[1])
		n.played, _ = time.ParseDuration(m[2])
		n.packetsPerSec, _ = strconv.Atoi(m[3])
		n.summaryWasReadable = true
	}
	if m := reSummaryRead.FindStringSubmatch(stdout); m != nil {
		n.delivered, _ = strconv.Atoi(m[1])
	}
	if m := reWall.FindStringSubmatch(stdout); m != nil {
		n.wall, _ = time.ParseDuration(m[1])
	}
	if m := reSessions.FindStringSubmatch(stdout); m != nil {
		n.started, _ = strconv.Atoi(m[1])
		n.ended, _ = strconv.Atoi(m[2])
		for _, f := range strings.Split(m[3], ", ") {
			if v, ok := strings.CutPrefix(f, "replayed "); ok {
				n.replayed, _ = strconv.Atoi(v)
			}
		}
	}
	return n
}

// percentOf is 100*n/total (100 for an empty total).
func percentOf(n, total int) float64 {
	if total == 0 {
		return 100
	}
	return 100 * float64(n) / float64(total)
}
