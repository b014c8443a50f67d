package privdrop

import (
	"errors"
	"os"
	"os/exec"
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
