package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// Redirect modes.
const (
	RedirectAuto       = "auto"
	RedirectTC         = "tc"
	RedirectForwarding = "forwarding"
)

// Defaults of Config's zero fields.
const (
	DefaultStateDir   = "/run/replaygw"
	DefaultMTU        = 1500
	DefaultTxQueueLen = 10000
)

// Config describes the TUN device and the kernel state around it.
type Config struct {
	Name       string         // TUN device name (at most 15 bytes)
	Queues     int            // IFF_MULTI_QUEUE queues; default 1
	MTU        int            // default DefaultMTU
	TxQueueLen int            // default DefaultTxQueueLen
	Pools      []netip.Prefix // client pools routed into the TUN, IPv4 and IPv6
	// Ingress is the interface the target's responses arrive on, or a
	// comma-separated list of them. "" means every interface that is up,
	// except lo and the TUN.
	Ingress string
	// Redirect is "auto" (default: tc, falling back to forwarding), "tc" or
	// "forwarding".
	Redirect string
	// AnswerPing lets packets the gateway writes into the TUN (ICMP echo
	// replies) be forwarded out: it sets forwarding on the TUN itself
	// (recorded and restored like every other sysctl).
	AnswerPing bool
	StateDir   string // default DefaultStateDir
	Logger     *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Queues == 0 {
		c.Queues = 1
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.TxQueueLen == 0 {
		c.TxQueueLen = DefaultTxQueueLen
	}
	if c.Redirect == "" {
		c.Redirect = RedirectAuto
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Name == "" || len(c.Name) > 15 {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 15 bytes", c.Name))
	}
	if c.Queues < 1 || c.Queues > 256 {
		errs = append(errs, fmt.Errorf("queues %d: want 1 to 256", c.Queues))
	}
	if c.MTU < 576 || c.MTU > 65535 {
		errs = append(errs, fmt.Errorf("mtu %d: want 576 to 65535", c.MTU))
	}
	if c.TxQueueLen < 1 {
		errs = append(errs, fmt.Errorf("txqueuelen %d: want at least 1", c.TxQueueLen))
	}
	if len(c.Pools) == 0 {
		errs = append(errs, errors.New("no pools"))
	}
	for _, p := range c.Pools {
		if !p.IsValid() || p != p.Masked() {
			errs = append(errs, fmt.Errorf("pool %s: not a masked prefix", p))
		}
	}
	switch c.Redirect {
	case RedirectAuto, RedirectTC, RedirectForwarding:
	default:
		errs = append(errs, fmt.Errorf("redirect %q: want auto, tc or forwarding", c.Redirect))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tunnel: config: %w", err)
	}
	return nil
}
