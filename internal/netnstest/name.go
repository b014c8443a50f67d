package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
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
func Add(t testing.TB, name string) {
	t.Helper()
	Sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
}

// RemoveStale deletes the namespaces named by Unique(prefix) whose test
// process is gone (left behind by a killed run).
func RemoveStale(prefix string) {
	paths, _ := filepath.Glob("/run/netns/" + prefix + "*")
	for _, p := range paths {
		name := filepath.Base(p)
		rest := strings.TrimPrefix(name, prefix)
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		pid, err := strconv.Atoi(rest[:end])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}
