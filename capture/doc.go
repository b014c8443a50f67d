// Package capture is where client packets come from: live AF_PACKET
// (TPACKET_V3) capture with a kernel BPF filter and fanout across sockets,
// offline pcap/pcapng files (optionally gzip-compressed), and a pcapng
// recorder so that what was captured can be replayed later. Every source
// hands out bare IP packets (IPv4 or IPv6): the link-layer header is
// stripped here.
package capture
