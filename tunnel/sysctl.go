package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// procSys is the root of the sysctl tree; tests point it elsewhere.
var procSys = "/proc/sys"

// sysctlPath turns "net/ipv4/conf/eth0/forwarding" into its /proc/sys path.
// Keys use '/' so interface names with dots (eth0.100) need no escaping.
func sysctlPath(key string) string { return filepath.Join(procSys, key) }

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	if err != nil {
		return "", fmt.Errorf("tunnel: read sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value+"\n"), 0); err != nil {
		return fmt.Errorf("tunnel: write sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// sysctlExists reports whether key is present on this kernel.
func sysctlExists(key string) bool {
	_, err := os.Stat(sysctlPath(key))
	return err == nil
}

// setSysctl records key's old value in st (saved before the write, so a
// crash in between still restores it) and writes value. Nothing is recorded
// when the value is already right.
func setSysctl(st *state, key, value string) error {
	old, err := readSysctl(key)
	if err != nil {
		return err
	}
	if old == value {
		return nil
	}
	st.Sysctls = append(st.Sysctls, sysctlChange{Key: key, Old: old, New: value})
	if err := st.save(); err != nil {
		return err
	}
	return writeSysctl(key, value)
}

// restoreSysctl puts back the old value. A key that vanished with its
// interface is not an error.
func restoreSysctl(c sysctlChange) error {
	err := writeSysctl(c.Key, c.Old)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
