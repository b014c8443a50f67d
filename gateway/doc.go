// Package gateway is the gateway core: it owns the table that maps each
// replayed session's exact 4-tuple to the copier that registered it and
// the control-channel server the copiers connect to. Package role
// assembles it with the TUN and the netstack for `replaygw up`.
//
// The netstack hands every TCP segment the target sends to the client pool
// to Server.Deliver on one of its TUN reader goroutines. Deliver looks the
// tuple up and appends the record to the owning copier's bounded queue
// without ever blocking; a writer goroutine per copier sends the queue in
// batched record frames. A SYN-ACK or RST whose route has not arrived yet is
// held for a short while and delivered when the route is added.
package gateway
