package lab

import (
	"fmt"
	"os/exec"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/lab/netns"
)

// Receive processing on the lab's links. A veth pair hands a sent frame
// straight to the peer's receive path, which runs in the sender's system
// call: the sender's CPU time then includes the bridge, the receiving
// host's whole TCP stack and whatever that host sends in reply within the
// same softirq. On a real network that work belongs to another machine.
// With GRO on, TSO off (veth only takes the NAPI path for frames it may
// GRO) and threaded NAPI, each veth end receives in a kernel thread of its
// own, as a NIC would, and a process is charged for its own work only.

// ThreadedNAPI switches every veth end of the lab (hosts and bridge ports)
// to NAPI receive in kernel threads.
func (l *Lab) ThreadedNAPI() error {
	for _, h := range Hosts {
		if err := l.Do(h, func() error { return vethNAPI(Iface) }); err != nil {
			return fmt.Errorf("lab: lab %s: napi on %s: %w", l.Name, h, err)
		}
		if err := l.switchDo(func() error { return vethNAPI("p-" + string(h)) }); err != nil {
			return fmt.Errorf("lab: lab %s: napi on bridge port of %s: %w", l.Name, h, err)
		}
	}
	// sysfs shows the devices of the namespace it was mounted in; `ip
	// netns exec` mounts one for the namespace.
	threaded := func(ns string, devs ...string) error {
		script := "set -e"
		for _, d := range devs {
			script += "; echo 1 > /sys/class/net/" + d + "/threaded"
			// A queue in front of the veth: when the peer's receive ring
			// (256 frames) is full the kernel stops the queue instead of
			// dropping (Linux 6.16; veth has no queue by default).
			script += "; tc qdisc replace dev " + d + " root pfifo limit 10000"
		}
		if out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", script).CombinedOutput(); err != nil {
			return fmt.Errorf("lab: lab %s: threaded napi in %s: %w: %s", l.Name, ns, err, out)
		}
		return nil
	}
	var ports []string
	for _, h := range Hosts {
		if err := threaded(l.NS(h), Iface); err != nil {
			return err
		}
		ports = append(ports, "p-"+string(h))
	}
	if err := threaded(l.SwitchNS(), ports...); err != nil {
		return err
	}
	return nil
}

// switchDo runs fn in the bridge's namespace (see netns.Go).
func (l *Lab) switchDo(fn func() error) error {
	return <-netns.Go(l.SwitchNS(), fn)
}

// ethtool commands of the legacy ioctl interface (linux/ethtool.h).
const (
	ethtoolGTSO = 0x1e // get TCP segmentation offload
	ethtoolSTSO = 0x1f // set TCP segmentation offload
	ethtoolGGRO = 0x2b // get generic receive offload
	ethtoolSGRO = 0x2c // set generic receive offload
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct{ cmd, data uint32 }

// ifreqData is struct ifreq with its union used as ifr_data.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// vethNAPI turns GRO on and TSO off on dev in the calling thread's
// namespace.
func vethNAPI(dev string) error {
	if _, err := ethtool(dev, ethtoolSGRO, 1); err != nil {
		return err
	}
	_, err := ethtool(dev, ethtoolSTSO, 0)
	return err
}

// ethtoolGet reads one legacy ethtool value of dev.
func ethtoolGet(dev string, cmd uint32) (uint32, error) { return ethtool(dev, cmd, 0) }

// ethtool issues one SIOCETHTOOL request with a struct ethtool_value in
// the calling thread's namespace and returns the value the kernel left.
func ethtool(dev string, cmd, data uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	v := ethtoolValue{cmd, data}
	var ifr ifreqData
	copy(ifr.name[:], dev)
	ifr.data = unsafe.Pointer(&v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&v)
	if errno != 0 {
		return 0, fmt.Errorf("ethtool %#x on %s: %w", cmd, dev, errno)
	}
	return v.data, nil
}
