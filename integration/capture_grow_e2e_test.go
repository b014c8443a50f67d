package integration

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// TestCopierRingGrowsAfterStall: the shipped binary's capture ring grows
// when the copier falls behind, after it dropped its other capabilities.
// The copier is stopped (SIGSTOP) for 300 ms while requests flow, far
// longer than its 4 MiB ring holds at one block per 2 ms; on SIGCONT it
// must grow the ring (it keeps CAP_NET_RAW for that), drop CAP_NET_RAW
// once grown, and replay everything sent after the stall.
func TestCopierRingGrowsAfterStall(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	r.startCopier(copierConf{}, true)
	const netRaw = 1 << 13
	if got := capEff(t, r.CP.Pid()); got != netRaw {
		t.Fatalf("copier CapEff %#x before any growth, want cap_net_raw only (%#x); %s", got, netRaw, threadCaps(r.CP.Pid()))
	}
	addr := r.Lab.Addr(lab.Online).String() + ":80"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Traffic during the stall: 600 short connections at 1,000/s.
	during := make(chan error, 1)
	go func() {
		_, err := r.Lab.Load(ctx, lab.Client, lab.LoadOptions{Addr: addr, Short: 600, Rate: 1000, Concurrency: 32, Duration: 10 * time.Second, IDPrefix: "stall"})
		during <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(r.CP.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(r.CP.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := <-during; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var m map[string]float64
	for {
		m = r.copierMetrics()
		if m["replaygw_capture_ring_growths_total"] == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after the stall: ring growths %v, kernel drops %v, freezes %v",
		m["replaygw_capture_ring_growths_total"], m["replaygw_capture_kernel_drops_total"], m["replaygw_capture_kernel_freezes_total"])
	if m["replaygw_capture_ring_growths_total"] != 1 {
		t.Fatalf("capture ring grew %v times after a 300 ms stall, want once", m["replaygw_capture_ring_growths_total"])
	}
	if got := capEff(t, r.CP.Pid()); got != 0 {
		t.Errorf("copier CapEff %#x after the ring grew, want 0; %s", got, threadCaps(r.CP.Pid()))
	}
	// The grown ring replays what follows.
	lo := lab.LoadOptions{Addr: addr, Short: 300, KeepAlive: 4, PerConn: 50, Rate: 500, Concurrency: 32, Duration: 10 * time.Second, IDPrefix: "after"}
	res := loadAnswered(t, r.Lab, lo, 99)
	if got := waitSeen(r.Target, res.OK, 5*time.Second); got != len(res.OK) {
		t.Errorf("after the growth %d of %d answered ids reached the target", got, len(res.OK))
	}
	r.copierAlive()
}
