package netns

import (
	"fmt"
	"runtime"

	vns "github.com/vishvananda/netns"
)

// Handle is an open namespace (a file descriptor); Close releases it.
type Handle = vns.NsHandle

// None is the invalid handle.
func None() Handle { return vns.None() }

// Open opens named namespace ns (/run/netns/ns).
func Open(ns string) (Handle, error) {
	h, err := vns.GetFromName(ns)
	if err != nil {
		return vns.None(), fmt.Errorf("netns: open %s: %w", ns, err)
	}
	return h, nil
}

// Enter locks the calling goroutine to its thread and moves the thread
// into h. The caller must never unlock: when it returns, the goroutine
// exits locked and the runtime discards the thread.
func Enter(h Handle) error {
	runtime.LockOSThread()
	if err := vns.Set(h); err != nil {
		return fmt.Errorf("netns: setns: %w", err)
	}
	return nil
}

// Do runs fn on a fresh OS thread that has entered h and waits for it. The
// thread is discarded afterwards. Sockets fn creates stay in the namespace.
func Do(h Handle, fn func() error) error {
	return <-goIn(h, false, fn)
}

// Go runs fn on a new goroutine whose OS thread is locked and switched
// into namespace ns, and delivers fn's result (or a recovered panic) on
// the returned channel. The thread is never unlocked, so it exits with the
// goroutine and no other goroutine ever inherits the namespace.
func Go(ns string, fn func() error) <-chan error {
	h, err := Open(ns)
	if err != nil {
		done := make(chan error, 1)
		done <- err
		return done
	}
	return goIn(h, true, fn)
}

// goIn runs fn on a new goroutine that entered h (see Enter); a panic of
// fn is delivered as an error. With own, h is closed at the end.
func goIn(h Handle, own bool, fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		if own {
			defer h.Close()
		}
		if err := Enter(h); err != nil {
			done <- err
			return // exits locked: the thread is discarded
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
func InNS(t TB, ns string, fn func() error) {
	t.Helper()
	if err := <-Go(ns, fn); err != nil {
		t.Fatalf("in netns %s: %v", ns, err)
	}
}
