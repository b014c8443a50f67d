// Package pkt is the one view of an IPv4 or IPv6 TCP packet that every
// package of replaygw uses, on top of gVisor's header package.
//
// Data flow: a captured packet (capture strips the link layer first), a
// packet read from the TUN (absorb), a probe reply (doctor) or a replayed
// packet (replay) is parsed in place by Parse into a View: addresses,
// ports, sequence numbers, flags, window and slices of the options and the
// payload that alias the caller's buffer. ParseIP reads the network layer
// alone, for callers that look at ports of first fragments too. Build
// writes a packet the other way round, IP header, TCP header and
// checksums, into the caller's buffer (a Flow carries a connection's
// endpoints encoded once for it); the Rewrite methods change an
// address or a port of a parsed packet and patch its checksums
// incrementally (RFC 1624). Nothing here allocates.
package pkt
