// Package integration builds network-namespace labs for replaygw: a bridge
// in its own namespace with client, online, target and assistant hosts, an
// HTTP server that records unique request ids, a bounded load generator, an
// AF_PACKET packet counter, and the `replaygw demo` that runs both roles as
// child processes inside a lab. Nothing here touches the root namespace's
// interfaces, addresses or routes.
//
// Go and namespaces: a goroutine may hop threads, so nothing in this package
// runs a whole role in-process. Sockets are created on a goroutine locked to
// its OS thread after setns; that goroutine never unlocks and exits locked,
// so the Go runtime discards the thread. Sockets keep the namespace they
// were created in and may be used from any goroutine afterwards.
package integration
