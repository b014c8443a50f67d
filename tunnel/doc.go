// Package tunnel owns the gateway's TUN device and every piece of kernel
// state that goes with it: the device itself (one file per IFF_MULTI_QUEUE
// queue), the routes that send the client pools into it, the ingress
// redirect that makes the target's responses reach it with ip_forward=0, and
// the sysctls it changed. Everything is recorded in a small JSON state file
// so that `replaygw down`, or the next Open after a crash, can undo it.
//
// Open, in order:
//
//  1. clean up the state a crashed predecessor left behind (Down);
//  2. create the TUN with songgao/water, one IFF_MULTI_QUEUE file per queue,
//     set its MTU and txqueuelen and bring it up;
//  3. route every pool (IPv4 and IPv6) into the TUN with netlink;
//  4. make responses arriving on the ingress interface(s) reach the TUN
//     whatever net.ipv4.ip_forward says. With forwarding off on the interface
//     a packet arrives on, the kernel drops pool-bound packets before routing
//     them (IpInAddrErrors). Two ways out (measured: docs/design.md,
//     "The gateway on a TUN: measured facts"):
//     - "tc": a clsact qdisc on the ingress interface with one u32 filter per
//     pool and a mirred egress redirect to the TUN. The IP stack never sees
//     the packets. The filter is bound to the TUN's ifindex: recreating the
//     TUN needs Reinstall.
//     - "forwarding": net.ipv4.conf.<ingress>.forwarding=1 (and
//     net.ipv6.conf.<ingress>.force_forwarding=1, Linux 6.17+) on that
//     interface only.
//     "auto" tries tc and falls back to forwarding.
//
// Close undoes all of it in reverse order. Open, Close, Reinstall and Down
// act on the network namespace of the calling thread; call them from the
// same namespace.
package tunnel
