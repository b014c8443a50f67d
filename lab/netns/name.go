package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var seq atomic.Uint32

// Unique returns prefix, the test pid and two sequence letters, e.g.
// "rgT4711ab": unique within the process and across concurrent test
// processes. With a three-letter prefix it leaves room for a one-letter
// suffix within the 15 bytes of an interface name.
func Unique(prefix string) string {
	n := (seq.Add(1) - 1) % (26 * 26)
	return fmt.Sprintf("%s%d%c%c", prefix, os.Getpid(), 'a'+rune(n/26), 'a'+rune(n%26))
}

// Add creates namespace name and removes it in t.Cleanup.
func Add(t TB, name string) {
	t.Helper()
	Sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
}

// List returns the named namespaces whose name starts with prefix.
func List(prefix string) ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: list namespaces: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Remove kills whatever still runs in ns (the caller's own children) and
// deletes it. A namespace that does not exist is not an error.
func Remove(ns string) error {
	if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, pid := range pids(ns) {
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
		last = fmt.Errorf("netns: ip netns del %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// pids lists the processes inside namespace ns, except this one.
func pids(ns string) []int {
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

// ProcessAlive reports whether pid exists.
func ProcessAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// RemoveStale deletes the namespaces named by Unique(prefix) whose test
// process is gone (left behind by a killed run).
func RemoveStale(prefix string) {
	names, _ := List(prefix)
	for _, name := range names {
		rest := strings.TrimPrefix(name, prefix)
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		pid, err := strconv.Atoi(rest[:end])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if !ProcessAlive(pid) {
			_ = Remove(name)
		}
	}
}
