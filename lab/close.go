package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/replaygw/replaygw/lab/netns"
)

// Close stops the lab's children, closes its listeners and dial pools and
// removes every namespace it created (which destroys the bridge, the veths
// and anything a child created inside, such as a TUN). It works after a
// partial NewLab and may be called more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	closers := l.closers
	dialers := l.dialers
	l.procs, l.closers, l.dialers = nil, nil, nil
	l.mu.Unlock()

	var errs []error
	for _, p := range procs {
		p.Stop(3 * time.Second) // exit status of a stopped child is not an error of Close
	}
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range dialers {
		d.close()
	}
	if l.spawn != nil {
		l.spawn.close()
	}
	for h, hd := range l.handles {
		if err := hd.Close(); err != nil {
			errs = append(errs, fmt.Errorf("lab: close handle of %s: %w", h, err))
		}
	}
	l.handles = nil
	for _, ns := range l.namespaces() {
		if err := netns.Remove(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		l.log.Warn("lab: close", "name", l.Name, "err", errors.Join(errs...))
	} else {
		l.log.Debug("lab: removed", "name", l.Name)
	}
	return errors.Join(errs...)
}

// stalePid parses the owner pid from a lab namespace name
// "<prefix><pid>-<seq>-<host>"; ok is false for names not made by a lab
// with this prefix.
func stalePid(prefix, name string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(name, prefix)
	if !found {
		return 0, false
	}
	num, tail, found := strings.Cut(rest, "-")
	if !found || tail == "" {
		return 0, false
	}
	pid, err := strconv.Atoi(num)
	if err != nil || pid <= 0 {
		return 0, false
	}
	seq, _, found := strings.Cut(tail, "-")
	if _, err := strconv.Atoi(seq); err != nil || !found {
		return 0, false
	}
	return pid, true
}

// CleanStale removes namespaces with prefix left behind by lab owners that
// no longer run (crashed tests or demos). Labs of live processes, this one
// included, are left alone.
func CleanStale(prefix string, log *slog.Logger) {
	names, err := netns.List(prefix)
	if err != nil {
		log.Warn("lab: stale cleanup", "err", err)
		return
	}
	for _, name := range names {
		pid, ok := stalePid(prefix, name)
		if !ok || pid == os.Getpid() || netns.ProcessAlive(pid) {
			continue
		}
		if err := netns.Remove(name); err != nil {
			log.Warn("lab: stale cleanup", "ns", name, "err", err)
			continue
		}
		log.Info("lab: removed stale namespace", "ns", name, "owner_pid", pid)
	}
}
