// Package absorb is the gateway's absorber (the black hole proper): it reads every packet the
// kernel routes (or redirects) into the TUN and never lets one out.
//
// Inbound flow, per TUN queue (one goroutine each):
//
//  0. while packets flow, the queue (not watched by the Go netpoller) is
//     drained once per millisecond tick, so that one wake-up handles all
//     that arrived meanwhile, and Config.Flush sends on what the drain
//     produced; after 16 empty ticks the reader waits in the netpoller for
//     the next packet (reader.go);
//  1. read(2) one packet into the queue's reused buffer;
//  2. fast path: Extract parses IPv4/IPv6 + TCP in place with gVisor's
//     header views and hands a wire.Record to the Handler. No allocation, no
//     IP layer, about 1 µs of CPU per packet (docs/design.md);
//  3. with AnswerPing on, an ICMP echo request is answered right here (the
//     only packets ever written to the TUN; gVisor does not answer echoes to
//     the temporary addresses of a promiscuous NIC, gvisor#8657);
//  4. everything else (UDP, ICMP, IPv4 fragments, IPv6 extension headers) is
//     injected into a gVisor netstack, promiscuous and spoofing, whose TCP,
//     UDP and ICMP default handlers absorb every segment, datagram and
//     message (returning true, so netstack never sends a RST, a port
//     unreachable or an echo reply). TCP that needed the stack (reassembled
//     fragments, extension headers) still reaches the Handler;
//  5. the netstack's link endpoint never transmits: every write it attempts
//     is counted (writes_attempted) and dropped.
package absorb
