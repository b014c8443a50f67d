package capture

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// RunFlush delivers every packet and calls flush after the last packet of
// a burst, before the reader waits again: a handler that holds work until
// flush never leaves a packet unflushed.
func TestLiveRunFlush(t *testing.T) {
	lab := newVethLab(t)
	ap := netip.MustParseAddrPort
	svc, cli := ap("10.251.0.2:8080"), ap("10.251.0.1:40000")
	l := openLiveIn(t, lab.nsB, LiveConfig{Interface: lab.vB, Fanout: 1, Filter: Filter{Dst: []netip.AddrPort{svc}}})

	var mu sync.Mutex
	got, flushedAt, flushes := 0, 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- l.RunFlush(ctx, func([]byte, time.Time) {
			mu.Lock()
			got++
			mu.Unlock()
		}, func() {
			mu.Lock()
			flushedAt = got
			flushes++
			mu.Unlock()
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("RunFlush: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("RunFlush did not return after cancel")
		}
	}()

	inj := newInjector(t, lab.nsA, lab.vA)
	const bursts, per = 3, 20
	for b := 0; b < bursts; b++ {
		for i := 0; i < per; i++ {
			inj.send(t, ethernet(tcpPacket(cli, svc, "burst", 0), 0))
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			mu.Lock()
			done := got == (b+1)*per && flushedAt == got
			mu.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("burst %d: got %d packets, last flush after %d; want %d flushed", b, got, flushedAt, (b+1)*per)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if flushes < bursts {
		t.Fatalf("%d flushes for %d bursts", flushes, bursts)
	}
}
