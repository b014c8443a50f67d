package lab

import (
	"io"
	"log/slog"
	"os"
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

// NewTestLab builds a lab with opts, or skips when not root. At the end of
// the test it removes the lab and fails the test if any of its namespaces
// is left.
func NewTestLab(t TB, opts LabOptions) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	l, err := NewLab(opts)
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
	names, err := netns.List(prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Errorf("namespace left behind: %s", name)
	}
}

// ServeIDs serves an IDServer on :80 of host h until the test ends.
func ServeIDs(t TB, l *Lab, h Host, opts IDServerOptions) *IDServer {
	t.Helper()
	ln, err := l.Listen(h, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	s := NewIDServer(ln, opts)
	t.Cleanup(func() { s.Close() })
	return s
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
