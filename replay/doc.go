// Package replay plays a capture file (pcap or pcapng, optionally gzip
// compressed; see capture.OpenFile) into a packet handler with the
// capture's own timing: `replaygw replay FILE`.
//
// Timing. Every delivered packet has a virtual time: the time since the
// first delivered packet of the pass, with idle gaps longer than
// Options.MaxGap shortened to MaxGap, and later loops continuing after the
// previous one. The player computes an absolute schedule from it,
//
//	due = start + virtual/Speed
//
// so sleeping inaccuracies never add up over a long file. It sleeps only
// when ahead of the schedule by more than 200µs and never spins.
//
// The handler receives that scheduled wall-clock time as the packet's
// timestamp (start + (ts - first)/Speed), not the capture time: inter-packet
// gaps, and therefore anything the session engine measures from them (RTTs,
// idle timeouts), shrink with the speed-up. When the player falls behind, the
// time handed over is still the scheduled one. At maximum speed (Speed 0 or
// +Inf) there is no schedule and the handler receives the wall-clock time of
// the delivery.
//
// Damage. A truncated or corrupt file stops the replay at the damaged record:
// Play returns the Summary of what was played so far together with the
// error, which names the packet number and byte offset (it wraps a
// *capture.FileError). Single records whose IP header does not parse are
// skipped, counted in Summary.Malformed, and the first of them is kept in
// Summary.MalformedErr.
//
// Loops. LoopShift, set as Options.OnLoop and wrapped around the handler,
// moves the client address of every packet of a later loop so that its
// connections are new sessions (see loopshift.go).
package replay
