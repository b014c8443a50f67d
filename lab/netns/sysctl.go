package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sysctlPath maps a key, as a /proc/sys path ("net/ipv4/ip_forward") or
// in sysctl(8) dotted form ("net.ipv4.ip_forward"), to its file.
func sysctlPath(key string) string {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return filepath.Join("/proc/sys", key)
}

// ReadSysctl returns the value of key, trimmed, in the namespace of the
// calling thread (run it under Do or Go).
func ReadSysctl(key string) (string, error) {
	v, err := os.ReadFile(sysctlPath(key))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(v)), nil
}

// WriteSysctl sets key to value in the namespace of the calling thread.
func WriteSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("write sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// Sysctl returns the value of key in namespace ns, trimmed.
func Sysctl(t TB, ns, key string) string {
	t.Helper()
	var v string
	InNS(t, ns, func() (err error) {
		v, err = ReadSysctl(key)
		return err
	})
	return v
}

// SetSysctl sets key to value in namespace ns.
func SetSysctl(t TB, ns, key, value string) {
	t.Helper()
	InNS(t, ns, func() error { return WriteSysctl(key, value) })
}
