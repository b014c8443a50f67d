// Package role assembles replaygw's roles from the config file: it reads
// the configs schema, translates it into the core packages' own configs
// and wires capture, tunnel, absorb, ledger and metrics around them. The
// commands (cmd/replaygw) only parse flags and call Run*.
//
// Gateway (`replaygw up`, [gateway] only): the target's responses to the
// client pools are routed into a TUN (tunnel) -> the absorb netstack takes
// every packet and extracts one record per TCP segment -> the control
// server (gateway.Server) looks up the lease of the record's 4-tuple and
// streams it to the copier that owns it.
//
// Copier (`replaygw copy`, [copy] only): the live capture (capture, with
// the recorder when copy.record is set) -> the session engine (copier)
// rewrites each session and sends it to the target through the sender;
// the gateway client registers every session's tuple on copy.gateways and
// hands their records back to the engine, which it was built with as its
// sink. Session summaries go to the ledger and the latency histograms,
// counters to the metrics exporter.
//
// Appliance (`replaygw appliance`, both sections, one process): the mirror
// port's capture -> the engine -> a sender TUN of its own -> the kernel
// routes to the target; the responses come back through the gateway's TUN
// and netstack, whose records go straight to the engine (no control
// channel, no leases).
//
// Replay (`replaygw replay FILE`): the file is played into a copier's
// engine (OpenReplay), responses from copy.gateways or, with a local
// gateway, from an appliance in this process.
package role
