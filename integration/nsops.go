package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// Exec returns an unstarted command that runs args in host's namespace via
// `ip netns exec`. Prefer Start for long-running children: it ties their
// lifetime to the lab.
func (l *Lab) Exec(h Host, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NS(h)}, args...)...)
}

// ExecContext is Exec with a context that kills the command.
func (l *Lab) ExecContext(ctx context.Context, h Host, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.NS(h)}, args...)...)
}

// Do runs fn on a fresh OS thread that has entered host's namespace. The
// thread is discarded afterwards. Sockets fn creates stay in the namespace.
func (l *Lab) Do(h Host, fn func() error) error {
	hd, err := l.handle(h)
	if err != nil {
		return err
	}
	return doIn(hd, fn)
}

// doIn runs fn on a locked thread inside ns; the thread never returns to
// the pool.
func doIn(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		if err := enterNS(ns); err != nil {
			errc <- err
			return // exits locked: the thread is discarded
		}
		errc <- fn()
	}()
	return <-errc
}

// enterNS locks the calling goroutine to its thread and moves the thread
// into ns. The caller must never unlock: when it returns, the goroutine
// exits locked and the runtime discards the thread.
func enterNS(ns netns.NsHandle) error {
	runtime.LockOSThread()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("integration: setns: %w", err)
	}
	return nil
}

// Listen creates a listener in host's namespace. The lab closes it on
// Close if the caller has not.
func (l *Lab) Listen(h Host, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := l.Do(h, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("integration: listen %s %s in %s: %w", network, addr, h, err)
	}
	l.track(func() error {
		err := ln.Close()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	})
	return ln, nil
}

// ListenPacket creates a packet socket (udp, ip:...) in host's namespace.
func (l *Lab) ListenPacket(h Host, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := l.Do(h, func() error {
		var err error
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("integration: listen packet %s %s in %s: %w", network, addr, h, err)
	}
	l.track(func() error {
		err := pc.Close()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	})
	return pc, nil
}

// Sysctl writes key (dotted, e.g. "net.ipv4.ip_forward") in host's
// namespace.
func (l *Lab) Sysctl(h Host, key, val string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	err := l.Do(h, func() error { return os.WriteFile(path, []byte(val), 0o644) })
	if err != nil {
		return fmt.Errorf("integration: sysctl %s=%s in %s: %w", key, val, h, err)
	}
	return nil
}

// ReadSysctl reads key in host's namespace.
func (l *Lab) ReadSysctl(h Host, key string) (string, error) {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	var v []byte
	err := l.Do(h, func() error {
		var err error
		v, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("integration: read sysctl %s in %s: %w", key, h, err)
	}
	return strings.TrimSpace(string(v)), nil
}

// track registers a closer to run before the namespaces are removed.
func (l *Lab) track(fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, fn)
}
