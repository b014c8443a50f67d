package tunnel

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/lab/netns"
)

// TestSysctlRecordRestore runs against a fake /proc/sys tree.
func TestSysctlRecordRestore(t *testing.T) {
	old := procSys
	t.Cleanup(func() { procSys = old })
	procSys = t.TempDir()
	key := "net/ipv4/conf/eth0.100/forwarding"
	if err := os.MkdirAll(filepath.Dir(sysctlPath(key)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sysctlPath(key), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// undo also deletes the TUN by name: use one that cannot exist here.
	name := fmt.Sprintf("rgTnone%d", os.Getpid()%1000000)
	st := &state{TUN: name, path: statePath(t.TempDir(), name)}
	if err := setSysctl(st, key, "1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := readSysctl(key); v != "1" {
		t.Fatalf("after set: %q, want 1", v)
	}
	if err := setSysctl(st, key, "1"); err != nil { // already right: not recorded twice
		t.Fatal(err)
	}
	loaded, err := loadState(filepath.Dir(st.path), name)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Sysctls) != 1 || loaded.Sysctls[0] != (sysctlChange{Key: key, Old: "0", New: "1"}) {
		t.Fatalf("recorded %+v", loaded.Sysctls)
	}
	if err := loaded.undo(); err != nil {
		t.Fatal(err)
	}
	if v, _ := readSysctl(key); v != "0" {
		t.Fatalf("after undo: %q, want 0", v)
	}
	if _, err := os.Stat(st.path); !os.IsNotExist(err) {
		t.Fatalf("state file still there: %v", err)
	}
	// A sysctl whose interface vanished restores without error.
	if err := restoreSysctl(sysctlChange{Key: "net/ipv4/conf/gone/forwarding", Old: "0"}); err != nil {
		t.Fatalf("restore of a vanished key: %v", err)
	}
}

func TestLoadStateMissingAndMismatch(t *testing.T) {
	dir := t.TempDir()
	if st, err := loadState(dir, "rgw0"); st != nil || err != nil {
		t.Fatalf("missing: %v %v", st, err)
	}
	st := &state{TUN: "other", path: statePath(dir, "rgw0")}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(dir, "rgw0"); err == nil {
		t.Fatal("mismatched TUN name: want error")
	}
	if err := Down(t.TempDir(), "nothing"); err != nil {
		t.Fatalf("Down without state: %v", err)
	}
}

func TestOpenRefusesLiveOwner(t *testing.T) {
	dir := t.TempDir()
	name := fmt.Sprintf("rgTlive%d", os.Getpid()%1000000)
	// In a throwaway namespace, so that a broken check cannot touch the
	// host's network.
	l := netns.NewPair(t, nsPrefix)
	st := &state{TUN: name, PID: 1, path: nsStatePath(t, l.GW, dir, name)}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	pid := holdLock(t, st.path) // a running owner holds the lock
	netns.InNS(t, l.GW, func() error {
		_, err := Open(Config{Name: name, Pools: []netip.Prefix{netip.MustParsePrefix("10.88.0.0/24")}, StateDir: dir})
		if want := fmt.Sprintf("held by running process %d", pid); err == nil || !strings.Contains(err.Error(), want) {
			return fmt.Errorf("Open() = %v, want refusal %q", err, want)
		}
		return nil
	})
	if _, err := os.Stat(st.path); err != nil {
		t.Fatalf("state of the live owner was touched: %v", err)
	}
	netns.InNS(t, l.GW, func() error {
		if err := Down(dir, name); err == nil || !strings.Contains(err.Error(), "stop it first") {
			return fmt.Errorf("Down() = %v, want refusal while the owner runs", err)
		}
		return nil
	})
	if _, err := os.Stat(st.path); err != nil {
		t.Fatalf("Down touched the state of the live owner: %v", err)
	}
}
