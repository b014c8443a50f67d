package copier

import (
	"github.com/replaygw/replaygw/pkt"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Building the packets sent to the target: IPv4 or IPv6 plus TCP, with
// package pkt, into the worker's scratch buffer (or the output batch's).

const outBufSize = header.IPv6MinimumSize + header.TCPHeaderMaximumSize + 65535

// emit builds (pkt.Build) and sends one segment of session s. opts are the
// TCP options (already padded to a multiple of 4); payload may be empty.
func (w *worker) emit(s *session, flags header.TCPFlags, seq, ack seqnum.Value, win uint16, opts, payload []byte) {
	sg := pkt.Segment{
		Flow: &s.flow,
		Seq:  seq, Ack: ack, Flags: flags, Window: win,
		Options: opts, Payload: payload,
	}
	if !s.v6 {
		s.ipID++
		sg.ID = s.ipID
	}
	b := w.out[:]
	if w.ob != nil {
		b = w.ob.buf(&w.e.stats, sg.Size())
	}
	total, err := pkt.Build(b, &sg)
	if err != nil {
		w.e.stats.SendErrors.Add(1)
		return
	}

	w.emitted++
	st := &w.e.stats
	if w.ob != nil {
		w.ob.add(b[:total]) // sent (and counted) at the end of the round
	} else {
		if err := w.e.snd.Send(b[:total]); err != nil {
			st.SendErrors.Add(1)
			return
		}
		st.PacketsSent.Add(1)
	}
	if len(payload) > 0 {
		st.PayloadBytesSent.Add(uint64(len(payload)))
	}
	if flags&header.TCPFlagRst != 0 {
		st.RSTsSent.Add(1)
	}
	if flags&header.TCPFlagFin != 0 {
		st.FINsSent.Add(1)
	}
}

// tsOpts fills w.opt with NOP,NOP,TS when the session uses timestamps.
func (w *worker) tsOpts(s *session, now int64) []byte {
	if !s.rcv.tsOn {
		return nil
	}
	o := w.opt[:12]
	o[0], o[1] = header.TCPOptionNOP, header.TCPOptionNOP
	header.EncodeTSOption(s.tsVal(now), s.rcv.tsRecent, o[2:])
	return o
}

// sendAck sends a pure ACK for everything the target sent so far.
func (w *worker) sendAck(s *session, now int64) {
	w.emit(s, header.TCPFlagAck, s.snd.nxt, s.rcv.nxt, s.snd.advWin, w.tsOpts(s, now), nil)
	s.acked()
	w.e.stats.ACKsSent.Add(1)
}

// sendRST aborts the session at the target.
func (w *worker) sendRST(s *session, now int64) {
	if s.state < stSynSent {
		return
	}
	fl := header.TCPFlagRst
	ack := seqnum.Value(0)
	if s.state >= stEstablished {
		fl |= header.TCPFlagAck
		ack = s.rcv.nxt
	}
	w.emit(s, fl, s.snd.nxt, ack, 0, nil, nil)
}

// sendSYN sends (or resends) the session's SYN: the client's own options
// when the SYN was captured, else a synthesized one with an MSS option
// (cfg.MSS on IPv4, 20 bytes less on IPv6, whose header is that much
// longer: see Config.MSS).
func (w *worker) sendSYN(s *session) {
	g := s.grp
	if !s.fake {
		w.emit(s, header.TCPFlagSyn, s.snd.iss, 0, g.syn.win, g.syn.opts[:g.syn.optLen], nil)
	} else {
		o := w.opt[:4]
		header.EncodeMSSOption(uint32(synMSS(w.e.cfg.MSS, s.v6)), o)
		w.emit(s, header.TCPFlagSyn, s.snd.iss, 0, 65535, o, nil)
	}
	w.e.stats.SYNsSent.Add(1)
}

// synMSS is the MSS option of a synthesized SYN: mss is an IPv4 figure
// (1460 = a 1500-byte MTU minus 20 bytes of IPv4 and 20 of TCP header);
// IPv6's fixed header is 40 bytes, so the same MTU fits 20 bytes less.
func synMSS(mss int, v6 bool) int {
	if v6 {
		return mss - (header.IPv6MinimumSize - header.IPv4MinimumSize)
	}
	return mss
}

// synTSVal extracts the TSval of a captured SYN's options, if any.
func synTSVal(opts []byte) (uint32, bool) {
	so := header.ParseSynOptions(opts, false)
	return so.TSVal, so.TS
}

// synHasWS reports whether captured SYN options carry a window scale.
func synHasWS(opts []byte) bool {
	return header.ParseSynOptions(opts, false).WS >= 0
}
