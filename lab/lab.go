package lab

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/lab/netns"
)

// Host names one machine of the lab.
type Host string

// The lab's hosts.
const (
	Client    Host = "client"
	Online    Host = "online"
	Target    Host = "target"
	Assistant Host = "assistant"
)

// Hosts lists the lab's hosts in the order they are built.
var Hosts = []Host{Client, Online, Target, Assistant}

// hostIDs is the last byte (v4) and last group (v6) of each host's address.
var hostIDs = map[Host]byte{Client: 10, Online: 20, Target: 30, Assistant: 40}

// Lab addressing. The LAN is 10.77.0.0/24 and fd77::/64.
var (
	LabNet  = netip.MustParsePrefix("10.77.0.0/24")
	LabNet6 = netip.MustParsePrefix("fd77::/64")
)

// Iface is the name of every host's interface on the lab bridge (each host
// is its own namespace, so the names never clash).
const Iface = "eth0"

// DefaultPool and DefaultPool6 are the client pools routed from the target
// via the assistant unless LabOptions says otherwise.
var (
	DefaultPool  = netip.MustParsePrefix("10.88.0.0/24")
	DefaultPool6 = netip.MustParsePrefix("fd88::/64")
)

// LabOptions configures NewLab.
type LabOptions struct {
	// Prefix is the base name of the lab's namespaces; the process id and a
	// sequence number are appended. Default "rgL".
	Prefix string
	// Pool and Pool6 are the client pools the target routes via the
	// assistant. Defaults DefaultPool and DefaultPool6.
	Pool  netip.Prefix
	Pool6 netip.Prefix
	// Logger receives setup and teardown messages; default discards.
	Logger *slog.Logger
}

// Lab is a running topology: one namespace per host plus one for the
// bridge. Close removes all of it.
type Lab struct {
	Name  string // unique prefix of every namespace, e.g. "rgL4242-1"
	Pool  netip.Prefix
	Pool6 netip.Prefix

	log     *slog.Logger
	handles map[Host]netns.Handle
	spawn   *spawner

	mu      sync.Mutex
	closers []func() error // listeners, dial pools: closed before the namespaces
	procs   []*Proc
	closed  bool
	dialers map[Host]*Dialer
}

var labSeq atomic.Uint64

// NewLab builds the topology. On failure everything created so far is
// removed. Namespaces left by crashed runs with the same prefix are removed
// first.
func NewLab(opts LabOptions) (*Lab, error) {
	if opts.Prefix == "" {
		opts.Prefix = "rgL"
	}
	if !opts.Pool.IsValid() {
		opts.Pool = DefaultPool
	}
	if !opts.Pool6.IsValid() {
		opts.Pool6 = DefaultPool6
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: lab: must run as root")
	}
	CleanStale(opts.Prefix, opts.Logger)
	l := &Lab{
		Name:    fmt.Sprintf("%s%d-%d", opts.Prefix, os.Getpid(), labSeq.Add(1)),
		Pool:    opts.Pool.Masked(),
		Pool6:   opts.Pool6.Masked(),
		log:     opts.Logger,
		handles: make(map[Host]netns.Handle),
		dialers: make(map[Host]*Dialer),
	}
	if err := l.build(); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return l, nil
}

// NS returns the namespace name of host.
func (l *Lab) NS(h Host) string { return l.Name + "-" + string(h) }

// SwitchNS is the namespace holding the bridge.
func (l *Lab) SwitchNS() string { return l.Name + "-sw" }

// namespaces lists every namespace the lab creates, bridge first.
func (l *Lab) namespaces() []string {
	ns := []string{l.SwitchNS()}
	for _, h := range Hosts {
		ns = append(ns, l.NS(h))
	}
	return ns
}

// Addr is host's IPv4 address on the lab LAN.
func (l *Lab) Addr(h Host) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 77, 0, hostIDs[h]})
}

// Addr6 is host's IPv6 address on the lab LAN.
func (l *Lab) Addr6(h Host) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd77::%d", hostIDs[h]))
}

func (l *Lab) build() error {
	l.log.Debug("lab: building", "name", l.Name)
	var add strings.Builder
	for _, ns := range l.namespaces() {
		fmt.Fprintf(&add, "netns add %s\n", ns)
	}
	if err := ipBatch("", add.String()); err != nil {
		return fmt.Errorf("lab: lab %s: add namespaces: %w", l.Name, err)
	}
	// The bridge and one veth per host, the host end created directly in
	// the host's namespace.
	var sw strings.Builder
	sw.WriteString("link set lo up\nlink add br0 type bridge\nlink set br0 up\n")
	for _, h := range Hosts {
		port := "p-" + string(h)
		fmt.Fprintf(&sw, "link add %s type veth peer name %s netns %s\n", port, Iface, l.NS(h))
		fmt.Fprintf(&sw, "link set %s master br0\nlink set %s up\n", port, port)
	}
	if err := ipBatch(l.SwitchNS(), sw.String()); err != nil {
		return fmt.Errorf("lab: lab %s: bridge: %w", l.Name, err)
	}
	for _, h := range Hosts {
		var b strings.Builder
		b.WriteString("link set lo up\n")
		fmt.Fprintf(&b, "link set %s up\n", Iface)
		fmt.Fprintf(&b, "addr add %s/%d dev %s\n", l.Addr(h), LabNet.Bits(), Iface)
		fmt.Fprintf(&b, "addr add %s/%d dev %s nodad\n", l.Addr6(h), LabNet6.Bits(), Iface)
		if h == Target {
			fmt.Fprintf(&b, "route add %s via %s dev %s\n", l.Pool, l.Addr(Assistant), Iface)
			fmt.Fprintf(&b, "route add %s via %s dev %s\n", l.Pool6, l.Addr6(Assistant), Iface)
		}
		if err := ipBatch(l.NS(h), b.String()); err != nil {
			return fmt.Errorf("lab: lab %s: host %s: %w", l.Name, h, err)
		}
		hd, err := netns.Open(l.NS(h))
		if err != nil {
			return fmt.Errorf("lab: lab %s: %w", l.Name, err)
		}
		l.handles[h] = hd
	}
	sp, err := newSpawner()
	if err != nil {
		return fmt.Errorf("lab: lab %s: %w", l.Name, err)
	}
	l.spawn = sp
	// Pool-sourced packets (raw-socket spoofed on the online host, arriving
	// on the target) must not be dropped by reverse-path filtering.
	for _, h := range Hosts {
		for _, dev := range []string{"all", "default", Iface} {
			if err := l.Sysctl(h, "net.ipv4.conf."+dev+".rp_filter", "0"); err != nil {
				return fmt.Errorf("lab: lab %s: %w", l.Name, err)
			}
		}
	}
	return l.waitReady()
}

// waitReady waits until the target's route for the pool resolves via the
// assistant and IPv6 addresses are usable (nodad makes that immediate, but
// the veth carrier may take a moment).
func (l *Lab) waitReady() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := l.Exec(Target, "ip", "-o", "link", "show", Iface).Output()
		if err == nil && !bytes.Contains(out, []byte("NO-CARRIER")) && bytes.Contains(out, []byte("state UP")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: lab %s: %s of target not up: %s", l.Name, Iface, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handle returns the open namespace handle of h.
func (l *Lab) handle(h Host) (netns.Handle, error) {
	hd, ok := l.handles[h]
	if !ok {
		return netns.None(), fmt.Errorf("lab: lab %s: no host %q", l.Name, h)
	}
	return hd, nil
}

// ipBatch runs `ip [-n ns] -batch -` with script on stdin.
func ipBatch(ns, script string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
