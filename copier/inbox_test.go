package copier

import (
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

func signalled(b *inbox) bool {
	select {
	case <-b.wake:
		return true
	default:
		return false
	}
}

// A push wakes the worker only when it is parked; a held push leaves the
// wake to flush, which wakes it once.
func TestInboxWakes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		parked     bool
		hold       bool
		wakePush   bool // woken by the push itself
		wakeFlush  bool // woken by the flush after it
		takeBefore bool
		record     bool // push a response record instead of a packet
	}{
		{name: "awake worker", parked: false, wakePush: false, wakeFlush: false},
		{name: "parked worker", parked: true, wakePush: true, wakeFlush: false},
		{name: "parked, held", parked: true, hold: true, wakePush: false, wakeFlush: true},
		{name: "awake, held", parked: false, hold: true, wakePush: false, wakeFlush: false},
		{name: "record, parked worker", parked: true, wakePush: true, wakeFlush: false, record: true},
		{name: "record, parked, held", parked: true, hold: true, wakePush: false, wakeFlush: true, record: true},
		{name: "record, awake, held", parked: false, hold: true, wakePush: false, wakeFlush: false, record: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newInbox()
			var pkts []pktMsg
			var recs []wire.Record
			var pay []byte
			if tc.parked && b.take(&pkts, &recs, &pay) {
				t.Fatal("take on an empty inbox reported work")
			}
			if tc.record {
				if ok, _ := b.pushRecord(&wire.Record{Seq: 7}, tc.hold); !ok {
					t.Fatal("push refused")
				}
			} else if ok, _ := b.pushPacket(&pktMsg{p: capPkt{seq: 7}}, tc.hold, false); !ok {
				t.Fatal("push refused")
			}
			if got := signalled(b); got != tc.wakePush {
				t.Fatalf("woken by the push: %v, want %v", got, tc.wakePush)
			}
			b.flush()
			if got := signalled(b); got != tc.wakeFlush {
				t.Fatalf("woken by the flush: %v, want %v", got, tc.wakeFlush)
			}
			b.flush()
			if signalled(b) {
				t.Fatal("a second flush woke the worker again")
			}
			if !b.take(&pkts, &recs, &pay) {
				t.Fatal("take found nothing")
			}
			if tc.record && (len(recs) != 1 || recs[0].Seq != 7) || !tc.record && (len(pkts) != 1 || pkts[0].p.seq != 7) {
				t.Fatalf("take: %+v %+v", pkts, recs)
			}
		})
	}
}

// take hands over everything in order and leaves the inbox empty; records
// lose their payload; a full inbox refuses.
func TestInboxTakeAndLimit(t *testing.T) {
	b := newInbox()
	for i := range queueLen {
		if ok, _ := b.pushPacket(&pktMsg{p: capPkt{seq: seqnum.Value(i)}}, false, false); !ok {
			t.Fatalf("push %d refused", i)
		}
	}
	if ok, _ := b.pushPacket(&pktMsg{}, false, false); ok {
		t.Fatal("push beyond queueLen accepted")
	}
	r := wire.Record{Seq: 5, Payload: []byte("x")}
	if ok, _ := b.pushRecord(&r, false); !ok {
		t.Fatal("record refused")
	}
	var pkts []pktMsg
	var recs []wire.Record
	var pay []byte
	if !b.take(&pkts, &recs, &pay) || len(pkts) != queueLen || len(recs) != 1 {
		t.Fatalf("took %d packets %d records", len(pkts), len(recs))
	}
	for i := range pkts {
		if pkts[i].p.seq != seqnum.Value(i) {
			t.Fatalf("packet %d out of order: seq %d", i, pkts[i].p.seq)
		}
	}
	r.Payload[0] = 'y' // the queued copy must not alias the producer's buffer
	if recs[0].Seq != 5 || string(recs[0].Payload) != "x" || len(pay) != 1 {
		t.Fatalf("record %+v (arena %q), want seq 5 with its own copy of the payload", recs[0], pay)
	}
	if r.Payload == nil {
		t.Fatal("the caller's record was modified")
	}
	if b.queued() != 0 || b.take(&pkts, &recs, &pay) {
		t.Fatal("inbox not empty after take")
	}
}

// A waiting push blocks on a full inbox until the worker takes, wakes a
// worker that held pushes left parked, and is released by close.
func TestInboxWaitForRoom(t *testing.T) {
	b := newInbox()
	var pkts []pktMsg
	var recs []wire.Record
	var pay []byte
	b.take(&pkts, &recs, &pay) // the worker parks
	for i := range queueLen {
		if ok, waited := b.pushPacket(&pktMsg{p: capPkt{seq: seqnum.Value(i)}}, true, true); !ok || waited {
			t.Fatalf("push %d: ok %v waited %v", i, ok, waited)
		}
	}
	if signalled(b) {
		t.Fatal("held pushes woke the worker")
	}
	type result struct{ ok, waited bool }
	done := make(chan result, 1)
	go func() {
		ok, waited := b.pushPacket(&pktMsg{p: capPkt{seq: 99999}}, true, true)
		done <- result{ok, waited}
	}()
	select {
	case <-b.wake: // the waiting producer must wake the parked worker
	case <-time.After(5 * time.Second):
		t.Fatal("a producer waiting on a full inbox did not wake the parked worker")
	}
	select {
	case r := <-done:
		t.Fatalf("push returned %+v on a full inbox", r)
	case <-time.After(20 * time.Millisecond):
	}
	if !b.take(&pkts, &recs, &pay) || len(pkts) != queueLen {
		t.Fatalf("take got %d packets", len(pkts))
	}
	select {
	case r := <-done:
		if !r.ok || !r.waited {
			t.Fatalf("push after the take: %+v, want ok after a wait", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the take did not release the waiting producer")
	}
	if !b.take(&pkts, &recs, &pay) || len(pkts) != 1 || pkts[0].p.seq != 99999 {
		t.Fatalf("the waited packet was not queued: %+v", pkts)
	}

	for i := range queueLen {
		b.pushPacket(&pktMsg{p: capPkt{seq: seqnum.Value(i)}}, false, false)
	}
	go func() {
		ok, waited := b.pushPacket(&pktMsg{}, false, true)
		done <- result{ok, waited}
	}()
	time.Sleep(20 * time.Millisecond)
	b.close()
	select {
	case r := <-done:
		if r.ok {
			t.Fatal("push accepted after close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("close did not release the waiting producer")
	}
}

// A full inbox makes a record's producer wait for the worker's take, never
// drops it; close releases a waiting producer with false.
func TestInboxRecordsWait(t *testing.T) {
	b := newInbox()
	for i := range queueLen {
		if ok, waited := b.pushRecord(&wire.Record{Seq: uint32(i)}, true); !ok || waited {
			t.Fatalf("record %d: ok %v, waited %v", i, ok, waited)
		}
	}
	done := make(chan [2]bool)
	go func() {
		ok, waited := b.pushRecord(&wire.Record{Seq: queueLen}, true)
		done <- [2]bool{ok, waited}
	}()
	select {
	case r := <-done:
		t.Fatalf("a record beyond queueLen returned %v before any take", r)
	case <-time.After(50 * time.Millisecond):
	}
	var pkts []pktMsg
	var recs []wire.Record
	var pay []byte
	if !b.take(&pkts, &recs, &pay) || len(recs) != queueLen {
		t.Fatalf("took %d records", len(recs))
	}
	if r := <-done; !r[0] || !r[1] {
		t.Fatalf("the waiting record: ok %v, waited %v", r[0], r[1])
	}
	if !b.take(&pkts, &recs, &pay) || len(recs) != 1 || recs[0].Seq != queueLen {
		t.Fatalf("second take: %+v", recs)
	}
	for range queueLen {
		b.pushRecord(&wire.Record{}, true)
	}
	go func() {
		ok, waited := b.pushRecord(&wire.Record{}, true)
		done <- [2]bool{ok, waited}
	}()
	time.Sleep(10 * time.Millisecond)
	b.close()
	if r := <-done; r[0] {
		t.Fatal("a record pushed into a closed inbox was accepted")
	}
}
