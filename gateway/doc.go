// Package gateway is the gateway core: it owns the lease table that maps
// each replayed session's exact 4-tuple to the copier that leased it and
// the control-channel server the copiers connect to. Package role
// assembles it with the TUN and the netstack for `replaygw up`.
//
// The netstack hands every TCP segment the target sends to the client pool
// to Server.Deliver on one of its TUN reader goroutines. Deliver looks the
// tuple up and appends the record to the owning copier's bounded queue
// without ever blocking; a writer goroutine per copier sends the queue in
// batched record frames, after at most ServerConfig.RecordFlush (1 ms) or
// as soon as 32 KiB are queued, over a wire.QuietConn. A record nobody
// leased goes to the copier that has the whole pool when it asked for
// implicit leases (implicit.go); otherwise a SYN-ACK or RST whose lease has
// not arrived yet is held for a short while and delivered when the lease
// is taken.
//
// Several copiers may share one gateway and one client pool: each copier
// instance gets a disjoint share of the pool (shares.go) and a live lease
// is never handed to another instance (leases.go). Connections that never
// authenticate are bounded (pending.go; frames before authentication are
// at most wire.MaxHandshakeFrame).
package gateway
