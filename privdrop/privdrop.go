// Package privdrop lowers the process's Linux capabilities once a role has
// opened its devices and sockets: the daemons keep only what they still use
// (the gateway keeps CAP_NET_ADMIN to tear its routes and filters down; the
// copier keeps nothing), on every thread, and can never regain the rest.
package privdrop

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capability numbers used by replaygw.
const (
	NetAdmin = unix.CAP_NET_ADMIN
	NetRaw   = unix.CAP_NET_RAW
)

var names = map[int]string{NetAdmin: "cap_net_admin", NetRaw: "cap_net_raw"}

// Keep reduces the effective, permitted and inheritable sets of every thread
// to keep, and removes everything else from the bounding set, so that not
// even an exec can bring a capability back. It is a no-op (returning nil)
// for a process that holds no capabilities.
func Keep(keep ...int) error {
	var hdr unix.CapUserHeader
	hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("privdrop: capget: %w", err)
	}
	if cur[0].Permitted == 0 && cur[1].Permitted == 0 {
		return nil
	}
	var want [2]unix.CapUserData
	for _, c := range keep {
		if cur[c/32].Permitted&(1<<(c%32)) == 0 {
			continue
		}
		want[c/32].Permitted |= 1 << (c % 32)
		want[c/32].Effective |= 1 << (c % 32)
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if contains(keep, c) {
			continue
		}
		// Needs CAP_SETPCAP, which root has until the capset below.
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("privdrop: drop capability %d from the bounding set: %w", c, err)
		}
	}
	unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	hdr.Pid = 0
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&want[0])), 0)
	if errno == syscall.ENOTSUP {
		// A cgo build cannot change every thread at once, and dropping on
		// one thread only would be a false sense of safety.
		return errors.New("privdrop: this binary was built with cgo, so capabilities cannot be dropped on every thread; build with CGO_ENABLED=0")
	}
	if errno != 0 {
		return fmt.Errorf("privdrop: capset: %w", errno)
	}
	return nil
}

// Effective names the capabilities this thread holds, for logs.
func Effective() string {
	var hdr unix.CapUserHeader
	hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return "unknown"
	}
	if cur[0].Effective == 0 && cur[1].Effective == 0 {
		return "none"
	}
	var out []string
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if cur[c/32].Effective&(1<<(c%32)) != 0 {
			if n, ok := names[c]; ok {
				out = append(out, n)
			} else {
				out = append(out, fmt.Sprintf("cap_%d", c))
			}
		}
	}
	if len(out) > 6 {
		return fmt.Sprintf("%d capabilities", len(out))
	}
	return strings.Join(out, ",")
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
