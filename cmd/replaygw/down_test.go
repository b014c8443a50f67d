package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/tunnel"
	"golang.org/x/sys/unix"
)

const lockEnv = "RGW_CMD_HOLD_LOCK"

// TestHoldLockHelper stands in for a running gateway: it holds the write
// lock on $RGW_CMD_HOLD_LOCK until stdin closes.
func TestHoldLockHelper(t *testing.T) {
	path := os.Getenv(lockEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err == nil {
		err = unix.FcntlFlock(f.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK})
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

// `down` refuses, naming the process, while the gateway it would undo runs.
func TestDownRefusesWhileTheGatewayRuns(t *testing.T) {
	dir := t.TempDir()
	const tun = "rgdownheld0"
	state := tunnel.StatePath(dir, tun)
	if err := os.WriteFile(state, []byte(`{"tun": "`+tun+`", "pid": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestHoldLockHelper$")
	helper.Env = append(os.Environ(), lockEnv+"="+strings.TrimSuffix(state, ".json")+".lock")
	stdin, _ := helper.StdinPipe()
	out, _ := helper.StdoutPipe()
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); helper.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q", line)
	}

	read := capture(t)
	got := run([]string{"down", "--tun", tun, "--state-dir", dir})
	_, stderr := read()
	want := fmt.Sprintf("replaygw down: tunnel: down %s: held by running process %d (state %s); stop it first", tun, helper.Process.Pid, state)
	if got != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", got, stderr, want)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the running gateway's state was removed: %v", err)
	}
}
