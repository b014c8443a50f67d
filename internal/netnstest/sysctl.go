package netnstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sysctlPath maps a key, as a /proc/sys path ("net/ipv4/ip_forward") or
// in sysctl(8) dotted form ("net.ipv4.ip_forward"), to its file.
func sysctlPath(key string) string {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return filepath.Join("/proc/sys", key)
}

// Sysctl returns the value of key in namespace ns, trimmed.
func Sysctl(t testing.TB, ns, key string) string {
	t.Helper()
	var v []byte
	InNS(t, ns, func() (err error) {
		if v, err = os.ReadFile(sysctlPath(key)); err != nil {
			return fmt.Errorf("read sysctl %s: %w", key, err)
		}
		return nil
	})
	return strings.TrimSpace(string(v))
}

// SetSysctl sets key to value in namespace ns.
func SetSysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	InNS(t, ns, func() error {
		if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
			return fmt.Errorf("write sysctl %s=%s: %w", key, value, err)
		}
		return nil
	})
}
