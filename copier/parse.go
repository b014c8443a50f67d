package copier

import (
	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// capPkt is what the engine needs from a captured client packet. Offsets
// index the packet's buffer.
type capPkt struct {
	orig   wire.Tuple // client -> online service, as captured
	route  int
	seq    seqnum.Value
	ack    seqnum.Value
	flags  header.TCPFlags
	win    uint16
	optOff int
	optLen int
	payOff int
	payLen int
	ts     int64 // capture time, unix nanoseconds
	// online: a server->client packet of a route whose protocol reads the
	// online server's responses; orig is still client -> online service.
	online bool
}

// parseCaptured fills p from an IPv4 or IPv6 TCP packet (pkt.Parse). It
// reports false for anything that is not a well-formed, unfragmented TCP
// segment.
func parseCaptured(b []byte, p *capPkt) bool {
	var v pkt.View
	if pkt.Parse(b, &v) != nil {
		return false
	}
	p.orig = wire.Tuple{Client: v.SrcAddrPort(), Target: v.DstAddrPort()}
	p.seq, p.ack, p.flags, p.win = v.Seq, v.Ack, v.Flags, v.Window
	p.optOff, p.optLen = v.OptionsOffset(), len(v.Options)
	p.payOff, p.payLen = v.PayloadOffset(), len(v.Payload)
	return true
}
