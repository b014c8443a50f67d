// Package copier is the online-host role: it takes captured client packets,
// runs a simulated client TCP stack per session against the target, and
// sends the rewritten packets out through a Sender. Response facts come back
// from one or more gateways as wire.Records.
//
// Following a packet through the files:
//
//	engine.go     HandlePacket / HandleRecord: parse (parse.go), route, hand to the owning worker
//	worker.go     a worker's loop, maps, rounds; inbox.go its queue, timers.go its wheel
//	client.go     client path: captured packet -> connection (group.go) -> each copy's stream
//	stream.go     the captured client stream of a session: segments in order, holes, FIN/RST
//	pump.go       sending that stream: pacing gate (pacing.go), window, MSS, FIN/RST
//	output.go     building the IP+TCP packets; send*.go the Senders, outbatch.go batching
//	target.go     target path: response record -> ack, window, receive, delayed ACK
//	retransmit.go timers of a session: retransmission, persist, delayed ACK, pacing wake
//	rtt.go        the round-trip estimate and retransmission timeout
//	lifecycle.go  create, handshake, close, abort; fate.go the fates and summaries
//	reopen.go     a new connection to the target after it reset or closed the last one
//	shed.go       the session table's bound: oldest half-open connections shed first
//	session.go    the session and its state groups (send, receive, capture, pacing,
//	              round trip, timers, summary)
//	proto.go      the route's protocol (package protocol), when it needs the streams
//
// Sequence numbers are gVisor's seqnum.Value (wrap-safe comparisons) and TCP
// flags gVisor's header.TCPFlags; wire.Record's flags, the same bits, are
// converted once per record (target.go).
package copier
