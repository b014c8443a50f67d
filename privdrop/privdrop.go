// Package privdrop lowers the process's Linux capabilities once a role has
// opened its devices and sockets: the daemons keep only what they still use
// (the gateway keeps CAP_NET_ADMIN to tear its routes and filters down; the
// copier keeps CAP_NET_RAW only while its capture ring may still grow, then
// nothing), on every thread, and can never regain the rest.
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
func Keep(keep ...int) error { return set(keep, false) }

// KeepForNow is Keep for a process that will drop more later: it also
// leaves CAP_SETPCAP permitted (not effective), which a later Keep needs
// to take what it kept now out of the bounding set.
func KeepForNow(keep ...int) error { return set(keep, true) }

func bit(c int) uint32 { return 1 << (c % 32) }

func has(d *[2]unix.CapUserData, c int, effective bool) bool {
	if effective {
		return d[c/32].Effective&bit(c) != 0
	}
	return d[c/32].Permitted&bit(c) != 0
}

// errCgo: a cgo build cannot change every thread at once, and dropping
// on one thread only would be a false sense of safety.
var errCgo = errors.New("privdrop: this binary was built with cgo, so capabilities cannot be dropped on every thread; build with CGO_ENABLED=0")

// allThreads makes a system call on every thread of the process.
func allThreads(what string, trap, a1, a2, a3 uintptr, ok ...syscall.Errno) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	switch {
	case errno == 0:
		return nil
	case errno == syscall.ENOTSUP:
		return errCgo
	}
	for _, e := range ok {
		if errno == e {
			return nil
		}
	}
	return fmt.Errorf("privdrop: %s: %w", what, errno)
}

// capset sets d on every thread.
func capset(d *[2]unix.CapUserData) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	return allThreads("capset", unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&d[0])), 0)
}

func set(keep []int, later bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("privdrop: capget: %w", err)
	}
	if cur[0].Permitted == 0 && cur[1].Permitted == 0 {
		return nil
	}
	// Changing the bounding set takes an effective CAP_SETPCAP (left
	// permitted by an earlier KeepForNow).
	if has(&cur, unix.CAP_SETPCAP, false) && !has(&cur, unix.CAP_SETPCAP, true) {
		raised := cur
		raised[unix.CAP_SETPCAP/32].Effective |= bit(unix.CAP_SETPCAP)
		if err := capset(&raised); err != nil {
			return err
		}
	}
	var want [2]unix.CapUserData
	for _, c := range keep {
		if has(&cur, c, false) {
			want[c/32].Permitted |= bit(c)
			want[c/32].Effective |= bit(c)
		}
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if contains(keep, c) {
			continue
		}
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && in == 0 {
			continue // gone already
		}
		// The bounding set is per thread: drop it on every one.
		if err := allThreads(fmt.Sprintf("drop capability %d from the bounding set", c), unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, unix.EINVAL); err != nil {
			return err
		}
	}
	if err := allThreads("clear ambient capabilities", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, unix.EINVAL); err != nil {
		return err
	}
	if later && has(&cur, unix.CAP_SETPCAP, false) {
		want[unix.CAP_SETPCAP/32].Permitted |= bit(unix.CAP_SETPCAP)
	}
	return capset(&want)
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
