// Package capture is where client packets come from: live AF_PACKET
// (TPACKET_V3) capture with a kernel BPF filter and fanout across sockets,
// offline pcap/pcapng files (optionally gzip-compressed), and a pcapng
// recorder so that what was captured can be replayed later. Every source
// hands out bare IP packets (IPv4 or IPv6): the link-layer header is
// stripped here.
//
// A live capture reads its own TPACKET_V3 rings (ring.go): each socket is
// set up with its ring and filter before it is bound, so it never sees an
// unfiltered frame, and the reader walks the kernel's blocks in place and
// parks in the Go netpoller between them (live.go). A single socket starts
// small and grows under pressure without losing or repeating a frame
// (live_grow.go).
package capture
