package integration

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
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
			errs = append(errs, fmt.Errorf("integration: close handle of %s: %w", h, err))
		}
	}
	l.handles = nil
	for _, ns := range l.namespaces() {
		if err := removeNS(ns); err != nil {
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

// removeNS kills whatever still runs in ns (only children this package
// started can be there) and deletes it. A namespace that does not exist is
// not an error.
func removeNS(ns string) error {
	if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, pid := range nsPids(ns) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var last error
	for range 20 {
		out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput()
		if err == nil {
			return nil
		}
		if _, serr := os.Stat("/run/netns/" + ns); errors.Is(serr, os.ErrNotExist) {
			return nil
		}
		last = fmt.Errorf("integration: ip netns del %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// nsPids lists the processes inside namespace ns.
func nsPids(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ListNamespaces returns the named namespaces whose name starts with prefix.
func ListNamespaces(prefix string) ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("integration: list namespaces: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
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
	names, err := ListNamespaces(prefix)
	if err != nil {
		log.Warn("lab: stale cleanup", "err", err)
		return
	}
	for _, name := range names {
		pid, ok := stalePid(prefix, name)
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := removeNS(name); err != nil {
			log.Warn("lab: stale cleanup", "ns", name, "err", err)
			continue
		}
		log.Info("lab: removed stale namespace", "ns", name, "owner_pid", pid)
	}
}

// processAlive reports whether pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
