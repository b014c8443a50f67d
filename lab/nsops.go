package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"

	"github.com/replaygw/replaygw/lab/netns"
)

// Exec returns an unstarted command that runs args in host's namespace via
// `ip netns exec`. Prefer Start for long-running children: it ties their
// lifetime to the lab.
func (l *Lab) Exec(h Host, args ...string) *exec.Cmd {
	return netns.Command(l.NS(h), args...)
}

// ExecContext is Exec with a context that kills the command.
func (l *Lab) ExecContext(ctx context.Context, h Host, args ...string) *exec.Cmd {
	return netns.CommandContext(ctx, l.NS(h), args...)
}

// Do runs fn on a fresh OS thread that has entered host's namespace. The
// thread is discarded afterwards. Sockets fn creates stay in the namespace.
func (l *Lab) Do(h Host, fn func() error) error {
	hd, err := l.handle(h)
	if err != nil {
		return err
	}
	return netns.Do(hd, fn)
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
		return nil, fmt.Errorf("lab: listen %s %s in %s: %w", network, addr, h, err)
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
		return nil, fmt.Errorf("lab: listen packet %s %s in %s: %w", network, addr, h, err)
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
	err := l.Do(h, func() error { return netns.WriteSysctl(key, val) })
	if err != nil {
		return fmt.Errorf("lab: %s: %w", h, err)
	}
	return nil
}

// ReadSysctl reads key in host's namespace.
func (l *Lab) ReadSysctl(h Host, key string) (string, error) {
	var v string
	err := l.Do(h, func() (err error) {
		v, err = netns.ReadSysctl(key)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("lab: %s: %w", h, err)
	}
	return v, nil
}

// track registers a closer to run before the namespaces are removed.
func (l *Lab) track(fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, fn)
}
