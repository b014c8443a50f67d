package netnstest

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// Go runs fn on a new goroutine whose OS thread is locked and switched
// into namespace ns, and delivers fn's result (or a recovered panic) on
// the returned channel. The thread is never unlocked, so it exits with the
// goroutine and no other goroutine ever inherits the namespace.
func Go(ns string, fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			done <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- fn()
	}()
	return done
}

// InNS runs fn inside namespace ns (see Go) and waits for it; an error
// fails the test. fn runs on another goroutine, so it must return errors
// instead of calling t.Fatal.
func InNS(t testing.TB, ns string, fn func() error) {
	t.Helper()
	if err := <-Go(ns, fn); err != nil {
		t.Fatalf("in netns %s: %v", ns, err)
	}
}
