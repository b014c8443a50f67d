package configs

import (
	"time"

	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/tunnel"
)

// Defaults of the keys a file may leave out. Queues and Workers default to
// the number of CPUs (queues at most MaxQueues). The defaults of what the
// core packages do are theirs (copier, gateway, tunnel): these name them
// for the file, so that no figure is defined twice.
const (
	DefaultTUN           = "rgw0"
	DefaultListen        = gateway.DefaultListen
	DefaultMTU           = tunnel.DefaultMTU
	DefaultTxQueueLen    = tunnel.DefaultTxQueueLen
	DefaultRedirect      = tunnel.RedirectAuto
	DefaultHoldEarly     = gateway.DefaultHoldEarly
	DefaultLeaseTTL      = gateway.DefaultLeaseTTL
	DefaultCopierQueue   = gateway.DefaultCopierQueue
	DefaultCopies        = copier.DefaultCopies
	DefaultSamplePercent = copier.DefaultSamplePercent
	DefaultMemoryLimit   = copier.DefaultMemoryLimit
	DefaultMaxSessions   = copier.DefaultMaxSessions
	DefaultSessionBuffer = copier.DefaultSessionBuffer
	DefaultIdleTimeout   = copier.DefaultIdleTimeout
	DefaultGapTimeout    = copier.DefaultGapTimeout
	DefaultSynTimeout    = copier.DefaultSynTimeout
	DefaultTimeWait      = copier.DefaultTimeWait
	DefaultMSS           = copier.DefaultMSS
	DefaultSource        = "live"
	DefaultSender        = copier.SenderRaw
	DefaultLedgerMaxSize = 64 * MiB
	// DefaultCaptureRingMB is the live capture's ring memory (resident
	// from the start): it rides out a reader stall of about half a second.
	DefaultCaptureRingMB = 32
	DefaultLogLevel      = "info"
	// DefaultCopyWorkers is the live copier's engine workers, and the CPUs
	// it runs on, when copy.workers is absent: one worker replays the
	// lab's highest connection rate (docs/benchmarks.md) and keeps the
	// copier's footprint on the online host small.
	DefaultCopyWorkers = 1
	// DefaultGatewayCPUs is the CPUs `replaygw up` runs on when
	// gateway.cpus is absent: one keeps its goroutines' wake-ups on one
	// thread, with no hand-off to another, which costs less CPU per
	// response at everyday rates (docs/benchmarks.md).
	DefaultGatewayCPUs = 1
	MaxGatewayCPUs     = 1024
	DefaultLogFormat   = "text"

	MaxQueues     = 16
	MaxCopies     = 64
	MaxPayloadCap = gateway.MaxPayloadCap
)

// LogLevels are the values of log.level (and --log-level).
var LogLevels = []string{"debug", "info", "warn", "error"}

// SetDefaults fills every zero-valued key that has a default, for configs
// built in code. Load fills only the keys the file leaves out, so that an
// explicit zero is validated rather than replaced.
func (c *Config) SetDefaults() { c.fillDefaults(nil) }

// fillDefaults fills keys that are zero and not defined in the file;
// defined == nil means every zero value is unset.
func (c *Config) fillDefaults(defined func(key ...string) bool) {
	unset := func(zero bool, key ...string) bool {
		return zero && (defined == nil || !defined(key...))
	}
	str := func(v *string, def string, key ...string) {
		if unset(*v == "", key...) {
			*v = def
		}
	}
	num := func(v *int, def int, key ...string) {
		if unset(*v == 0, key...) {
			*v = def
		}
	}
	dur := func(v *Duration, def time.Duration, key ...string) {
		if unset(v.Duration == 0, key...) {
			v.Duration = def
		}
	}
	size := func(v *Size, def Size, key ...string) {
		if unset(*v == 0, key...) {
			*v = def
		}
	}

	if g := c.Gateway; g != nil {
		str(&g.TUN, DefaultTUN, "gateway", "tun")
		str(&g.Listen, DefaultListen, "gateway", "listen")
		num(&g.CPUs, DefaultGatewayCPUs, "gateway", "cpus")
		num(&g.Queues, min(g.CPUs, MaxQueues), "gateway", "queues")
		num(&g.MTU, DefaultMTU, "gateway", "mtu")
		num(&g.TxQueueLen, DefaultTxQueueLen, "gateway", "txqueuelen")
		str(&g.Redirect, DefaultRedirect, "gateway", "redirect")
		dur(&g.HoldEarly, DefaultHoldEarly, "gateway", "hold_early")
		dur(&g.LeaseTTL, DefaultLeaseTTL, "gateway", "lease_ttl")
		num(&g.CopierQueue, DefaultCopierQueue, "gateway", "copier_queue")
	}
	if p := c.Copy; p != nil {
		num(&p.Copies, DefaultCopies, "copy", "copies")
		if unset(p.SamplePercent == 0, "copy", "sample_percent") {
			p.SamplePercent = DefaultSamplePercent
		}
		str(&p.Source, DefaultSource, "copy", "source")
		if c.Gateway != nil {
			// Appliance: packets enter the kernel through a TUN of their
			// own and are routed to the target from there.
			str(&p.Sender, copier.SenderTUN, "copy", "sender")
			if p.Sender == copier.SenderTUN {
				str(&p.SendInterface, SenderTUN(c.Gateway.TUN), "copy", "send_interface")
			}
		}
		str(&p.Sender, DefaultSender, "copy", "sender")
		num(&p.CaptureRingMB, DefaultCaptureRingMB, "copy", "capture_ring_mb")
		size(&p.MemoryLimit, DefaultMemoryLimit, "copy", "memory_limit")
		size(&p.SessionBuffer, DefaultSessionBuffer, "copy", "session_buffer")
		num(&p.MaxSessions, DefaultMaxSessions, "copy", "max_sessions")
		dur(&p.IdleTimeout, DefaultIdleTimeout, "copy", "idle_timeout")
		dur(&p.GapTimeout, DefaultGapTimeout, "copy", "gap_timeout")
		dur(&p.SynTimeout, DefaultSynTimeout, "copy", "syn_timeout")
		dur(&p.TimeWait, DefaultTimeWait, "copy", "time_wait")
		num(&p.MSS, DefaultMSS, "copy", "mss")
		size(&p.LedgerMaxSize, DefaultLedgerMaxSize, "copy", "ledger_max_size")
	}
	if c.Compare != nil {
		c.Compare.fillDefaults(unset)
	}
	str(&c.Log.Level, DefaultLogLevel, "log", "level")
	str(&c.Log.Format, DefaultLogFormat, "log", "format")
}

// SenderTUN names the appliance's sending TUN after the gateway's TUN: the
// gateway's own device must not get a second reader, which would take
// responses away from the black hole.
func SenderTUN(gatewayTUN string) string {
	if len(gatewayTUN) >= 15 {
		gatewayTUN = gatewayTUN[:14]
	}
	return gatewayTUN + "s"
}
