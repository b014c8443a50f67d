package doctor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procSys is the sysctl tree; /proc/sys/net follows the network namespace
// of the reading thread.
const procSys = "/proc/sys/"

// sysctl reads a dotted key ("net.ipv4.ip_forward"). Interface names with
// dots must be given with slashes instead.
func sysctl(key string) (string, error) {
	b, err := os.ReadFile(procSys + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func sysctlInt(key string) (int64, error) {
	s, err := sysctl(key)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sysctl %s: %q is not a number", key, s)
	}
	return v, nil
}

// ifKey builds net.ipv4.conf.<iface>.<leaf>, keeping dots in the interface
// name (eth0.100) as the slashes of the /proc path.
func ifKey(family, iface, leaf string) string {
	return "net." + family + ".conf." + strings.ReplaceAll(iface, ".", "/") + "." + leaf
}

// Capability numbers (linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
)

// effectiveCaps reads CapEff of the calling thread.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		b, err = os.ReadFile("/proc/self/status")
		if err != nil {
			return 0, err
		}
	}
	return parseCapEff(string(b))
}

func parseCapEff(status string) (uint64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapEff line")
}
