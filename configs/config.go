// Package configs defines replaygw's TOML configuration: the schema every
// role reads, its defaults, loading with strict validation, and the
// example files.
//
// Data flow: the text is parsed by the TOML library into a tree (syntax
// errors stop here); decodeTree moves the tree into Config, reporting each
// value of the wrong type in TOML words; a role's view drops the sections
// its command does not run (LoadFor); defaults fill what the file leaves
// out; the checks then report every problem, an error or a warning naming
// file:line and key, and only those in the sections the role uses count.
package configs

import (
	"net/netip"
	"time"
)

// DefaultPath is where the commands look for the config without --config.
const DefaultPath = "/etc/replaygw/replaygw.toml"

// Config is the whole file. Each command reads its own section; a section
// that is absent is nil.
type Config struct {
	Gateway *Gateway `toml:"gateway"`
	Copy    *Copy    `toml:"copy"`
	Metrics Metrics  `toml:"metrics"`
	Log     Log      `toml:"log"`
	Compare *Compare `toml:"compare"`

	// Path is the file the config was read from ("" for built-in configs).
	Path string `toml:"-"`

	// Warnings are problems Load noticed that do not stop the role from
	// running (e.g. a client pool smaller than copies), formatted like
	// errors ("file:line: key: message"). The commands log them.
	Warnings []string `toml:"-"`
}

// Gateway is the [gateway] section: `replaygw up` on the assistant host.
type Gateway struct {
	TUN        string   `toml:"tun"`         // TUN device name; default "rgw0"
	Pools      []string `toml:"pools"`       // client pools routed into the TUN (CIDRs)
	Ingress    string   `toml:"ingress"`     // interface the responses arrive on; "" = from the routes
	Listen     string   `toml:"listen"`      // control channel; default ":36524"
	Token      string   `toml:"token"`       // shared secret
	TokenFile  string   `toml:"token_file"`  // or: read the secret from this file
	CPUs       int      `toml:"cpus"`        // CPUs the gateway runs on (GOMAXPROCS); default 1
	Queues     int      `toml:"queues"`      // TUN queues (IFF_MULTI_QUEUE); default = cpus, max 16
	MTU        int      `toml:"mtu"`         // TUN MTU; default 1500
	TxQueueLen int      `toml:"txqueuelen"`  // TUN txqueuelen; default 10000
	Redirect   string   `toml:"redirect"`    // "auto" (default), "tc" or "forwarding"
	AnswerPing bool     `toml:"answer_ping"` // answer ICMP echo to pool addresses; default false
	// PayloadCap is the largest number of payload bytes per record a copier
	// may ask for; default 0 (headers only), at most 1024.
	PayloadCap int `toml:"payload_cap"`
	// HoldEarly is how long a SYN-ACK or RST that arrives before its route
	// is kept; default 2s.
	HoldEarly Duration `toml:"hold_early"`
	// LeaseTTL is how long a route lives without traffic when the copier
	// gave none; default 5m.
	LeaseTTL Duration `toml:"lease_ttl"`
	// CopierQueue is the per-copier send queue in records; when full,
	// records are dropped and counted. Default 65536.
	CopierQueue int `toml:"copier_queue"`

	// Parsed forms, filled by Load.
	PoolPrefixes []netip.Prefix `toml:"-"`
	Secret       string         `toml:"-"` // Token or the contents of TokenFile
}

// Route is one [[copy.route]]: an online service replayed to a target.
type Route struct {
	From string `toml:"from"` // online addr:port
	To   string `toml:"to"`   // target addr:port
	// AllowLocal permits a loopback from or to: the service really is on
	// this host (a lab). Default false.
	AllowLocal bool `toml:"allow_local"`
	// Compare = false leaves the route out of [compare]; default true.
	Compare *bool `toml:"compare"`
	// NoiseTarget is a second target running production's build (addr:port):
	// the route is replayed to it too, and the differences production shows
	// against it are classed as noise. Needs [compare].
	NoiseTarget string `toml:"noise_target"`
	// Protocol is the application protocol the route carries: "tcp"
	// (default: the bytes as captured), "http", "redis" or "mysql" (needs
	// [copy.mysql]).
	Protocol string `toml:"protocol"`

	FromAddr  netip.AddrPort `toml:"-"`
	ToAddr    netip.AddrPort `toml:"-"`
	NoiseAddr netip.AddrPort `toml:"-"` // parsed NoiseTarget
	// Compared: [compare] is enabled and the route does not opt out
	// (filled by Load; what the route's protocol.Options.Compare takes).
	Compared bool `toml:"-"`
	// CompareKeep is [compare] keep for a compared route: the payload kept
	// per side of one exchange (protocol.Options.Keep).
	CompareKeep int `toml:"-"`
}

// Copy is the [copy] section: `replaygw copy` on the online host, and the
// copier half of appliance mode.
type Copy struct {
	Interface     string   `toml:"interface"`      // capture interface (or mirror port)
	Gateways      []string `toml:"gateways"`       // gateway control addresses host:port
	Token         string   `toml:"token"`          // shared secret
	TokenFile     string   `toml:"token_file"`     // or: read it from this file
	ClientPool    string   `toml:"client_pool"`    // rewrite client addresses into this pool; "" = keep
	Copies        int      `toml:"copies"`         // N-fold multiplication; default 1
	SamplePercent float64  `toml:"sample_percent"` // share of sessions replayed; default 100
	Routes        []Route  `toml:"route"`          // one or more
	MySQL         *MySQL   `toml:"mysql"`          // [copy.mysql]: for routes with protocol = "mysql"

	// Source is where captured packets come from: "live" (default, the
	// capture interface) or a pcap file path (appliance mode).
	Source string `toml:"source"`
	// Sender is how rewritten packets leave: "raw" (default, IP_HDRINCL),
	// "tun" or "l2" (AF_PACKET on SendInterface).
	Sender        string `toml:"sender"`
	SendInterface string `toml:"send_interface"` // for sender = "l2" (or "tun": the TUN name)
	NextHopMAC    string `toml:"next_hop_mac"`   // for sender = "l2"; "" = resolve via the neighbour table

	Workers       int      `toml:"workers"`         // session engine workers; 0 (absent): DefaultCopyWorkers for live copy, the number of CPUs for replay and the appliance
	CaptureRingMB int      `toml:"capture_ring_mb"` // capture ring memory of all sockets together, MiB; default 32
	MemoryLimit   Size     `toml:"memory_limit"`    // global buffered-packet cap; default "256MiB"
	SessionBuffer Size     `toml:"session_buffer"`  // per-session buffered-bytes cap; default "4MiB"
	MaxSessions   int      `toml:"max_sessions"`    // live sessions; over it the oldest (half-open first) are shed; default 65536
	RequireSYN    bool     `toml:"require_syn"`     // refuse sessions whose SYN was not captured
	NoPacing      bool     `toml:"no_pacing"`       // send requests without waiting for responses
	RateLimit     int      `toml:"rate_limit"`      // new sessions per second; 0 = unlimited
	IdleTimeout   Duration `toml:"idle_timeout"`    // idle session -> RST to target; default 60s
	GapTimeout    Duration `toml:"gap_timeout"`     // capture-gap timeout; default 3s
	SynTimeout    Duration `toml:"syn_timeout"`     // handshake (with retransmits) gives up; default 6s
	TimeWait      Duration `toml:"time_wait"`       // do not reuse a 4-tuple this soon; default 60s
	MSS           int      `toml:"mss"`             // MSS for synthesized SYNs (IPv4 figure; IPv6 uses mss-20); default 1460
	PayloadBytes  int      `toml:"payload_bytes"`   // response payload bytes to ask the gateway for; default 0
	Record        string   `toml:"record"`          // write captured packets to this pcapng file
	Ledger        string   `toml:"ledger"`          // session ledger (JSON Lines); "" = off
	// LedgerMaxSize rotates the ledger at this size; default "64MiB".
	LedgerMaxSize Size `toml:"ledger_max_size"`

	ClientPrefix netip.Prefix `toml:"-"` // parsed ClientPool
	Secret       string       `toml:"-"`
}

// Metrics is the [metrics] section.
type Metrics struct {
	Listen string `toml:"listen"` // Prometheus /metrics and /status; "" = off
}

// Log is the [log] section.
type Log struct {
	Level  string `toml:"level"`  // debug, info (default), warn, error
	Format string `toml:"format"` // text (default) or json
}

// Duration is a time.Duration written as a Go duration string ("2s", "150ms").
type Duration struct{ time.Duration }

// Size is a byte count written as "64MiB", "512KiB", "1GiB" or a plain integer.
type Size int64
