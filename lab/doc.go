// Package lab builds the network-namespace lab that `replaygw demo` and the
// end-to-end tests (package integration) run replaygw in, and the tools to
// drive and observe it. Nothing here touches the root namespace's
// interfaces, addresses or routes; package lab/netns holds the namespace
// operations it is built on.
//
// What it builds (NewLab): one namespace per host plus one ("<name>-sw")
// holding a bridge br0 with a veth port p-<host> per host. Every host has
// eth0 on that LAN, 10.77.0.0/24 and fd77::/64:
//
//	client     10.77.0.10  fd77::10   the load generator (Lab.Load, Dialer)
//	online     10.77.0.20  fd77::20   the production server (IDServer on :80) and `replaygw copy`
//	target     10.77.0.30  fd77::30   the test server (IDServer on :80)
//	assistant  10.77.0.40  fd77::40   `replaygw up`: TUN, netstack, control channel :36524
//
// The target routes the client pools (DefaultPool 10.88.0.0/24 and
// DefaultPool6 fd88::/64 unless LabOptions says otherwise) via the
// assistant; reverse-path filtering is off on every host. Namespace names
// carry the owner's pid (Lab.Name), so concurrent labs never clash, and
// CleanStale removes those of crashed owners.
//
// Data flow: the client's requests reach the online IDServer; the copier
// there captures them and sends rewritten packets, sourced from the pool,
// to the target; the target's answers to pool addresses go to the
// assistant, where the gateway absorbs them and streams response records
// back to the copier. The IDServers record every unique request id, so a
// test compares what the online host answered with what the target
// received; PacketCounters (AF_PACKET) on the client's and the online
// host's eth0 and on the assistant count pool-bound packets that leak or
// are forwarded.
//
// Driving it: Lab.Start runs a child (the real binary's roles) in a host's
// namespace, forked from one long-lived thread so Pdeathsig ties the
// children to the lab; Lab.Do, Listen and Dialer create sockets inside a
// namespace; Lab.Load is a bounded, paced HTTP load (short and keep-alive
// connections); Rig is one demo run (lab, ID servers, counters, configs,
// both roles), shared by RunDemo and the tests; the demo table prints what
// the target receives live. Lab.Close stops the children, closes sockets
// and removes every namespace, also after a partial NewLab.
//
// Go and namespaces: a goroutine may hop threads, so nothing here runs a
// whole role in-process. Sockets are created on a goroutine locked to its
// OS thread after setns; that goroutine never unlocks and exits locked, so
// the Go runtime discards the thread. Sockets keep the namespace they were
// created in and may be used from any goroutine afterwards.
package lab
