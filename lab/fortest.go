package lab

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/replaygw/replaygw/lab/netns"
)

// TB is the part of testing.TB the test helpers of this package use (an
// interface, so that the lab, linked into the binary for the demo, does not
// link package testing).
type TB interface {
	netns.TB
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Output() io.Writer
}

// NewTestLab builds a lab removed at the end of the test, or skips when not
// root.
func NewTestLab(t TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	l, err := NewLab(LabOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		AssertNoNamespaces(t, l.Name)
	})
	return l
}

// AssertNoNamespaces fails the test for every namespace whose name starts
// with prefix.
func AssertNoNamespaces(t TB, prefix string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix) {
			t.Errorf("namespace left behind: %s", line)
		}
	}
}

// WaitFor polls cond every 10ms until it holds or limit has passed; the
// caller asserts the outcome.
func WaitFor(t TB, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logger returns a debug logger writing to the test's output.
func Logger(t TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
