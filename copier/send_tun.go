package copier

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
)

// TUNSender writes IP packets into a TUN device of its own (appliance mode):
// each write is a packet received on that device, which the kernel then
// forwards to the target along its routes. It must not be the gateway's TUN
// (a second reader there would steal the target's responses).
//
// For the kernel to forward what arrives on the device, NewTUNSender turns on
// forwarding for that one device (IPv4 conf.<dev>.forwarding, IPv6
// conf.<dev>.force_forwarding where the kernel has it, else the IPv6 packets
// need net.ipv6.conf.all.forwarding=1) and switches off its reverse-path
// filter (the pool's return route points at the gateway TUN, not here).
type TUNSender struct {
	log   *slog.Logger
	name  string
	dev   *water.Interface
	stats SendStats
	once  sync.Once
}

// NewTUNSender creates (or attaches to an existing persistent) TUN device
// name, brings it up and sets its sysctls. Needs CAP_NET_ADMIN.
func NewTUNSender(name string, opts SenderOptions) (*TUNSender, error) {
	opts.defaults()
	if name == "" {
		return nil, errors.New("copier: tun sender: no device name (copy.send_interface)")
	}
	dev, err := water.New(water.Config{DeviceType: water.TUN, PlatformSpecificParams: water.PlatformSpecificParams{Name: name}})
	if err != nil {
		return nil, fmt.Errorf("copier: tun sender: open %s: %w", name, err)
	}
	s := &TUNSender{log: opts.Logger, name: dev.Name(), dev: dev}
	fail := func(err error) (*TUNSender, error) {
		dev.Close()
		return nil, fmt.Errorf("copier: tun sender %s: %w", s.name, err)
	}
	link, err := netlink.LinkByName(s.name)
	if err != nil {
		return fail(err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fail(fmt.Errorf("set up: %w", err))
	}
	for _, sc := range []struct {
		path     string
		val      string
		optional bool
	}{
		{"ipv4/conf/" + s.name + "/forwarding", "1", false},
		{"ipv4/conf/" + s.name + "/rp_filter", "0", false},
		{"ipv6/conf/" + s.name + "/forwarding", "1", true},
		{"ipv6/conf/" + s.name + "/force_forwarding", "1", true},
	} {
		if err := writeSysctl(sc.path, sc.val); err != nil && !sc.optional {
			return fail(err)
		}
	}
	if v, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/rp_filter"); strings.TrimSpace(string(v)) == "1" {
		s.log.Warn("tun sender: net.ipv4.conf.all.rp_filter=1 (strict) overrides the device's 0; set it to 0 or 2",
			"device", s.name)
	}
	s.log.Info("tun sender ready", "device", s.name)
	return s, nil
}

func writeSysctl(path, val string) error {
	if err := os.WriteFile("/proc/sys/net/"+path, []byte(val), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(path, "/", "."), val, err)
	}
	return nil
}

// Name is the TUN device's name.
func (s *TUNSender) Name() string { return s.name }

// Send writes one IP packet into the device. Safe for concurrent use (each
// write(2) on a TUN is one whole packet).
func (s *TUNSender) Send(pkt []byte) error {
	if ipVersion(pkt) == 0 {
		return s.stats.fail(s.log, "tun", ErrInvalidPacket)
	}
	if _, err := s.dev.Write(pkt); err != nil {
		return s.stats.fail(s.log, "tun", err)
	}
	s.stats.ok(len(pkt))
	return nil
}

// Stats returns the sender's counters.
func (s *TUNSender) Stats() *SendStats { return &s.stats }

// Close closes the device (a non-persistent TUN disappears).
func (s *TUNSender) Close() error {
	var err error
	s.once.Do(func() {
		if cerr := s.dev.Close(); cerr != nil {
			err = fmt.Errorf("copier: tun sender %s close: %w", s.name, cerr)
		}
	})
	return err
}
