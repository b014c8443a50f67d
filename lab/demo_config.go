package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// DemoMetricsListen is where both demo roles serve /metrics, each inside
// its own namespace.
const DemoMetricsListen = "127.0.0.1:9257"

// DemoConfig holds the values written into the demo's config file.
type DemoConfig struct {
	TUN         string
	Pool        netip.Prefix
	Ingress     string // assistant's interface
	Listen      string // gateway control channel
	Token       string
	Interface   string // online's capture interface
	Gateway     string // copier's gateway address
	From, To    netip.AddrPort
	MetricsAddr string
}

// NewDemoConfig returns the demo config for lab l with a random token.
func NewDemoConfig(l *Lab) DemoConfig {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return DemoConfig{
		TUN:         "rgw0",
		Pool:        l.Pool,
		Ingress:     Iface,
		Listen:      ":36524",
		Token:       hex.EncodeToString(b[:]),
		Interface:   Iface,
		Gateway:     netip.AddrPortFrom(l.Addr(Assistant), 36524).String(),
		From:        netip.AddrPortFrom(l.Addr(Online), 80),
		To:          netip.AddrPortFrom(l.Addr(Target), 80),
		MetricsAddr: DemoMetricsListen,
	}
}

// GatewayTOML renders the config of `replaygw up` on the assistant. The
// roles get one file each: a file with both sections means appliance mode
// (one process playing both roles).
func (c DemoConfig) GatewayTOML() string {
	var b strings.Builder
	b.WriteString("# written by `replaygw demo` for the gateway; removed when the demo ends\n\n")
	fmt.Fprintf(&b, "[gateway]\ntun = %q\npools = [%q]\ningress = %q\nlisten = %q\ntoken = %q\n\n",
		c.TUN, c.Pool.String(), c.Ingress, c.Listen, c.Token)
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n", c.MetricsAddr)
	return b.String()
}

// CopierTOML renders the config of `replaygw copy` on the online host.
func (c DemoConfig) CopierTOML() string {
	var b strings.Builder
	b.WriteString("# written by `replaygw demo` for the copier; removed when the demo ends\n\n")
	fmt.Fprintf(&b, "[copy]\ninterface = %q\ngateways = [%q]\ntoken = %q\nclient_pool = %q\n\n",
		c.Interface, c.Gateway, c.Token, c.Pool.String())
	fmt.Fprintf(&b, "[[copy.route]]\nfrom = %q\nto = %q\n\n", c.From.String(), c.To.String())
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n", c.MetricsAddr)
	return b.String()
}
