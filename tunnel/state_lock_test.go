package tunnel

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/lab/netns"
)

const holdEnv = "RGW_TUNNEL_HOLD_LOCK"

// TestHoldLockHelper is the other process of holdLock: it takes the lock
// on $RGW_TUNNEL_HOLD_LOCK, says so and keeps it until stdin closes.
func TestHoldLockHelper(t *testing.T) {
	path := os.Getenv(holdEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	if _, err := lockState(path); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

// holdLock makes another process hold the lock of the state at path until
// the test ends, and returns its pid.
func holdLock(t *testing.T, path string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldLockHelper$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock helper: %q %v", line, err)
	}
	return cmd.Process.Pid
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// The owner is whoever holds the lock, never whatever the pid in the state
// file names: a live process that is not a gateway and a dead pid both
// leave stale state, which the next Open undoes.
func TestOpenTakesOverStaleState(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  func(t *testing.T) int
	}{
		{"pid of a live process that is not a gateway", func(*testing.T) int { return 1 }},
		{"dead pid", deadPID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := netns.NewPair(t, nsPrefix)
			name := l.Link("s")
			st := &state{TUN: name, PID: tc.pid(t), path: nsStatePath(t, l.GW, dir, name)}
			if err := st.save(); err != nil {
				t.Fatal(err)
			}
			var tun *Tunnel
			netns.InNS(t, l.GW, func() (err error) {
				tun, err = Open(Config{Name: name, Pools: []netip.Prefix{netip.MustParsePrefix("10.88.0.0/24")}, Redirect: RedirectForwarding, Ingress: l.VethG, StateDir: dir})
				return err
			})
			var got *state
			netns.InNS(t, l.GW, func() (err error) { got, err = loadState(dir, name); return err })
			if got == nil || got.PID != os.Getpid() {
				t.Errorf("state after Open: %+v, want this process's", got)
			}
			netns.InNS(t, l.GW, tun.Close)
			if _, err := os.Stat(lockPath(st.path)); !os.IsNotExist(err) {
				t.Errorf("lock file left after Close: %v", err)
			}
		})
	}
}

func TestLockHolder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rgw0.json")
	if pid, err := lockHolder(path); pid != 0 || err != nil {
		t.Fatalf("no lock file: %d %v", pid, err)
	}
	own, err := lockState(path)
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := lockHolder(path); pid != 0 || err != nil {
		t.Fatalf("held by this process: %d %v, want 0 (not another process)", pid, err)
	}
	own.release()
	other := holdLock(t, path)
	if pid, err := lockHolder(path); pid != other || err != nil {
		t.Fatalf("held by %d: lockHolder = %d %v", other, pid, err)
	}
	if _, err := lockState(path); err == nil || !strings.Contains(err.Error(), "held by running process "+strconv.Itoa(other)) {
		t.Fatalf("lockState while %d holds it: %v", other, err)
	}
}
