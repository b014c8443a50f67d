package copier

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// benchSession sets up one established session and returns the engRig, its
// tuple, and a captured data packet (seq patched per iteration).
func benchSession(b *testing.B, sync bool) (*engRig, wire.Tuple, []byte) {
	t := &testing.T{}
	r := &engRig{t: t, snd: &engSender{t: t}, rt: &engLeases{}, clk: &engClock{t: time.Unix(1_700_000_000, 0)}}
	cfg := Config{Routes: []Route{{From: online4, To: target4}}, Workers: 1, Synchronous: sync}
	if sync {
		cfg.Now = r.clk.Now
	}
	e, err := NewEngine(cfg, r.snd, r.rt)
	if err != nil {
		b.Fatal(err)
	}
	r.e = e
	b.Cleanup(e.Close)
	r.snd.keep = true
	c := r.capConn(client4, online4, 1000)
	c.handshake(time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for r.snd.count() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	syn := r.snd.take()
	if len(syn) != 1 {
		b.Fatalf("no SYN: %d", len(syn))
	}
	tu := tupleOf(syn[0])
	r.rec(tu, wire.FlagSYN|wire.FlagACK, targetISN, 1001, 65535, 0, wire.Options{Has: wire.OptWScale | wire.OptMSS, WScale: 7, MSS: 1460})
	for r.snd.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.snd.keep = false
	pkt := buildCaptured(capSpec{src: client4, dst: online4, seq: 1001, ack: 5000, flags: header.TCPFlagAck | header.TCPFlagPsh, payload: make([]byte, 100)})
	return r, tu, pkt
}

// BenchmarkEngineDataSegment: the per-packet cost of a steady-state data
// segment of an established session (capture parse, buffer, send to the
// target with a rebuilt header and checksum), one ack record per 32
// segments. Synchronous: the cost on one core without the queue hand-off.
func BenchmarkEngineDataSegment(b *testing.B) {
	r, tu, pkt := benchSession(b, true)
	ip := header.IPv4(pkt)
	seqOff := int(ip.HeaderLength()) + 4
	seq := uint32(1001)
	now := r.clk.Now()
	rec := wire.Record{Tuple: tu, Flags: wire.FlagACK, Seq: targetISN + 1, Window: 65535}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint32(pkt[seqOff:], seq)
		seq += 100
		r.e.HandlePacket(pkt, now)
		if i%32 == 31 {
			rec.Ack = seq
			r.e.HandleRecord(&rec)
		}
	}
	b.StopTimer()
	if sent := r.e.Stats().PayloadBytesSent.Load(); sent < uint64(b.N)*100 {
		b.Fatalf("sent %d payload bytes for %d segments", sent, b.N)
	}
}

// BenchmarkEngineDataSegmentAsync: the same through the worker queue
// (capture goroutine -> worker goroutine), measured until all are sent.
func BenchmarkEngineDataSegmentAsync(b *testing.B) {
	r, tu, pkt := benchSession(b, false)
	ip := header.IPv4(pkt)
	seqOff := int(ip.HeaderLength()) + 4
	seq := uint32(1001)
	now := time.Now()
	rec := wire.Record{Tuple: tu, Flags: wire.FlagACK, Seq: targetISN + 1, Window: 65535}
	st := r.e.Stats()
	base := st.PacketsSent.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint32(pkt[seqOff:], seq)
		seq += 100
		r.e.HandlePacket(pkt, now)
		if i%32 == 31 {
			rec.Ack = 1001 + uint32(st.PayloadBytesNew.Load()) // only what the worker sent
			r.e.HandleRecord(&rec)
		}
		for r.e.workers[0].in.queued() > queueLen/2 {
			runtime.Gosched() // stay within the queue: measure throughput, not drops
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.PacketsSent.Load()-base < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Microsecond)
	}
	b.StopTimer()
	if got := st.PacketsSent.Load() - base; got < uint64(b.N) {
		b.Fatalf("only %d of %d segments sent", got, b.N)
	}
	b.ReportMetric(float64(st.PacketsQueueDrop.Load()), "drops")
}

// BenchmarkEngineRecord: the per-record cost of response data records
// (rcv.nxt advance, delayed-ACK accounting, an ACK every 2 MSS).
func BenchmarkEngineRecord(b *testing.B) {
	r, tu, _ := benchSession(b, true)
	rec := wire.Record{Tuple: tu, Flags: wire.FlagACK, Seq: targetISN + 1, Ack: 1001, Window: 65535, PayloadLen: 1448}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.e.HandleRecord(&rec)
		rec.Seq += 1448
	}
	b.StopTimer()
	if r.e.Stats().ACKsSent.Load() < uint64(b.N)/4 {
		b.Fatalf("only %d ACKs for %d records", r.e.Stats().ACKsSent.Load(), b.N)
	}
}

// BenchmarkEngineManySessions: steady-state data segments spread over
// 10,000 established sessions (map lookups and cache misses included).
func BenchmarkEngineManySessions(b *testing.B) {
	t := &testing.T{}
	snd := &engSender{t: t, keep: true}
	e, err := NewEngine(Config{Routes: []Route{{From: online4, To: target4}}, Workers: 1, Synchronous: true}, snd, &engLeases{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	const n = 10000
	pkts := make([][]byte, n)
	seqs := make([]uint32, n)
	tuples := make([]wire.Tuple, n)
	now := time.Now()
	for i := range n {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), uint16(20000+i%1000))
		e.HandlePacket(buildCaptured(capSpec{src: cl, dst: online4, seq: 1000, flags: header.TCPFlagSyn}), now)
		syn := snd.take()
		tuples[i] = tupleOf(syn[0])
		e.HandleRecord(&wire.Record{Tuple: tuples[i], Flags: wire.FlagSYN | wire.FlagACK, Seq: 1, Ack: 1001, Window: 65535,
			Opts: wire.Options{Has: wire.OptWScale | wire.OptMSS, WScale: 7, MSS: 1460}})
		snd.take() // the ACK
		pkts[i] = buildCaptured(capSpec{src: cl, dst: online4, seq: 1001, ack: 5000, flags: header.TCPFlagAck | header.TCPFlagPsh, payload: make([]byte, 100)})
		seqs[i] = 1001
	}
	snd.keep = false
	snd.take()
	seqOff := header.IPv4MinimumSize + 4
	rec := wire.Record{Flags: wire.FlagACK, Seq: 2, Window: 65535}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % n
		binary.BigEndian.PutUint32(pkts[k][seqOff:], seqs[k])
		seqs[k] += 100
		e.HandlePacket(pkts[k], now)
		if i/n%4 == 3 { // every fourth round, each session gets an ack
			rec.Tuple, rec.Ack = tuples[k], seqs[k]
			e.HandleRecord(&rec)
		}
	}
	b.StopTimer()
	if st := e.Stats(); st.SessionsEnded.Load() != 0 || st.PayloadBytesNew.Load() != uint64(b.N)*100 {
		b.Fatalf("sessions ended during the benchmark: %s", engCounters(e))
	}
}
