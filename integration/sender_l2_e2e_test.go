package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// TestCopyL2Sender runs the copier with sender = "l2" and no next_hop_mac,
// the online host's neighbour table emptied first: the copier must have
// the kernel resolve the next hop (after it dropped its other
// capabilities) and then replay every request.
func TestCopyL2Sender(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	dc := lab.NewDemoConfig(r.Lab)
	if out, err := r.Lab.Exec(lab.Online, "ip", "neigh", "flush", "dev", dc.Interface).CombinedOutput(); err != nil {
		t.Fatalf("ip neigh flush: %v: %s", err, out)
	}
	r.startCopier(copierConf{Extra: []string{`sender = "l2"`, fmt.Sprintf("send_interface = %q", dc.Interface)}}, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := r.Lab.Load(ctx, lab.Client, lab.LoadOptions{Addr: r.Lab.Addr(lab.Online).String() + ":80",
		Short: 200, Rate: 500, Concurrency: 16, Duration: 10 * time.Second, IDPrefix: "l2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.OK) != 200 {
		t.Fatalf("online answered %d of 200", len(res.OK))
	}
	if got := waitSeen(r.Target, res.OK, 10*time.Second); got != len(res.OK) {
		t.Fatalf("target saw %d of %d requests", got, len(res.OK))
	}
	m := r.copierMetrics()
	var sent float64
	for k, v := range m {
		if strings.HasPrefix(k, "replaygw_sender_packets_sent_total") && strings.Contains(k, `sender="l2"`) {
			sent += v
		}
	}
	if sent == 0 {
		t.Fatalf("no packet counted as sent by the l2 sender: %v", m)
	}
}
