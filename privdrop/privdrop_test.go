package privdrop

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The drop is irreversible, so it runs in a child copy of the test binary.
func TestKeepDropsRawSocketPermission(t *testing.T) {
	if os.Getenv("PRIVDROP_CHILD") == "1" {
		if err := Keep(NetAdmin); err != nil {
			t.Fatalf("Keep: %v", err)
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err == nil {
			unix.Close(fd)
			t.Fatal("raw socket opened after CAP_NET_RAW was dropped")
		}
		if !errors.Is(err, unix.EPERM) {
			t.Fatalf("raw socket: got %v, want EPERM", err)
		}
		if got := Effective(); got != "cap_net_admin" {
			t.Fatalf("Effective() = %q, want cap_net_admin", got)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestKeepDropsRawSocketPermission$", "-test.v")
	cmd.Env = append(os.Environ(), "PRIVDROP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// statusHex reads a hexadecimal field (CapBnd, CapPrm ...) of this
// process's /proc status.
func statusHex(t *testing.T, field string) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func rawSocket() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// TestKeepForNowThenKeep: the copier's two steps. KeepForNow(NetRaw)
// leaves raw sockets working (and CAP_SETPCAP permitted only); the later
// Keep() takes everything, the bounding set included.
func TestKeepForNowThenKeep(t *testing.T) {
	if os.Getenv("PRIVDROP_CHILD") == "2" {
		if err := KeepForNow(NetRaw); err != nil {
			t.Fatalf("KeepForNow: %v", err)
		}
		if err := rawSocket(); err != nil {
			t.Fatalf("raw socket after KeepForNow(NetRaw): %v", err)
		}
		if got := Effective(); got != "cap_net_raw" {
			t.Fatalf("Effective() = %q after KeepForNow, want cap_net_raw", got)
		}
		if got := statusHex(t, "CapBnd"); got != 1<<NetRaw {
			t.Fatalf("CapBnd %#x after KeepForNow, want %#x", got, uint64(1)<<NetRaw)
		}
		if err := Keep(); err != nil {
			t.Fatalf("Keep: %v", err)
		}
		if err := rawSocket(); !errors.Is(err, unix.EPERM) {
			t.Fatalf("raw socket after Keep(): got %v, want EPERM", err)
		}
		for _, f := range []string{"CapEff", "CapPrm", "CapBnd"} {
			if got := statusHex(t, f); got != 0 {
				t.Errorf("%s %#x after Keep(), want 0", f, got)
			}
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeepForNowThenKeep$", "-test.v")
	cmd.Env = append(os.Environ(), "PRIVDROP_CHILD=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
