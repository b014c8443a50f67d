package copier

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// An idle engine must not wake its workers every millisecond.
func TestIdleWorkersSleep(t *testing.T) {
	e, err := NewEngine(Config{Routes: []Route{{From: online4, To: target4}}, Workers: 2}, &engSender{t: t}, &engLeases{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	time.Sleep(300 * time.Millisecond)
	if n := e.Stats().TimerWakeups.Load(); n > 4 {
		t.Errorf("idle workers woke %d times in 300ms", n)
	}
}

// Timers still fire on time without the fixed tick: an unanswered SYN is
// retransmitted after the initial RTO, and the worker wakes only for it.
func TestAsyncTimersFire(t *testing.T) {
	snd := &engSender{t: t, keep: true}
	e, err := NewEngine(Config{Routes: []Route{{From: online4, To: target4}}, Workers: 1}, snd, &engLeases{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	start := time.Now()
	cl := netip.AddrPortFrom(client4.Addr(), 31000)
	e.HandlePacket(buildCaptured(capSpec{src: cl, dst: online4, seq: 100, flags: header.TCPFlagSyn}), start)
	deadline := start.Add(3 * time.Second)
	for e.Stats().SYNsSent.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	if n := e.Stats().SYNsSent.Load(); n < 2 {
		t.Fatalf("SYN not retransmitted within 3s (%d sent)", n)
	}
	if took < time.Duration(initialRTO)*3/4 || took > time.Duration(initialRTO)+500*time.Millisecond {
		t.Errorf("SYN retransmitted after %v, want about %v", took, time.Duration(initialRTO))
	}
	if n := e.Stats().TimerWakeups.Load(); n > 20 {
		t.Errorf("worker woke %d times for one pending retransmission", n)
	}
	t.Logf("retransmit after %v, %d timer wake-ups", took, e.Stats().TimerWakeups.Load())
}

// wheel.next never lies late: it is at or before the earliest deadline,
// and exact for a deadline inside the look-ahead window.
func TestWheelNext(t *testing.T) {
	const t0 = int64(1_700_000_000) * int64(time.Second)
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		name    string
		at      []int64 // deadlines, relative to t0
		advance int64   // advance to t0+advance first (0: no advance)
		remove  []int   // entries removed (then refresh) before reading next
		want    int64   // relative to t0; noWake for none
	}{
		{"empty", nil, 0, nil, noWake},
		{"one", []int64{5 * ms}, 0, nil, 5 * ms},
		{"earliest of two", []int64{50 * ms, 7 * ms}, 0, nil, 7 * ms},
		{"after advance: next armed slot", []int64{3 * ms, 40 * ms}, 10 * ms, nil, 40 * ms},
		{"beyond the window: wake at its end", []int64{3 * ms, 2 * int64(time.Second)}, 10 * ms, nil, (11 + wheelLook) * ms},
		{"all fired", []int64{3 * ms}, 10 * ms, nil, noWake},
		{"earliest removed", []int64{7 * ms, 50 * ms}, 0, []int{0}, 50 * ms},
		{"later removed", []int64{7 * ms, 50 * ms}, 0, []int{1}, 7 * ms},
		{"all removed", []int64{7 * ms}, 0, []int{0}, noWake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWheel(t0)
			ss := make([]session, len(tc.at))
			for i, at := range tc.at {
				w.schedule(&ss[i], t0+at)
			}
			if tc.advance > 0 {
				w.advance(t0+tc.advance, func(*session, int64) {})
			}
			for _, i := range tc.remove {
				w.remove(&ss[i])
			}
			w.refresh()
			got := w.next
			if got != noWake {
				got -= t0
			}
			if got != tc.want {
				t.Errorf("next = %d ms, want %d ms", got/ms, tc.want/ms)
			}
		})
	}
}
