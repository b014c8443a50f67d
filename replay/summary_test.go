package replay

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPrintSummary(t *testing.T) {
	cases := []struct {
		name string
		s    *Summary
		want []string
		not  []string
	}{
		{name: "complete", s: &Summary{Packets: 1300, Delivered: 1234, Skipped: 66, Bytes: 3 << 20,
			FirstTS: t0, LastTS: t0.Add(29 * time.Second), Span: 29 * time.Second, Elapsed: 2 * time.Second, Loops: 1},
			want: []string{"1234 packets delivered of 1300 read (66 skipped), 3.0 MiB", "2026-11-25 10:00:00.000 .. 10:00:29.000",
				"29s of capture time in 2s", "(617 packets/s, 12.58 Mbit/s)", "1 complete loop(s)", "engine: 12 sessions"},
			not: []string{"stopped", "malformed"}},
		{name: "damaged", s: &Summary{Packets: 3, Delivered: 3, Bytes: 120, Malformed: 2, MalformedErr: errors.New("bad ip at packet 2"),
			Err: errors.New("capture: x: packet 4 at byte 192: truncated"), Elapsed: time.Second},
			want: []string{"120 B", "0 complete loop(s)", "2 malformed packet(s) skipped; first: bad ip at packet 2", "stopped early: capture: x: packet 4 at byte 192"}},
		{name: "nothing", s: &Summary{}, want: []string{"0 packets delivered of 0 read"}, not: []string{"capture time"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			PrintSummary(&b, c.s, "engine: 12 sessions")
			out := b.String()
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.not {
				if strings.Contains(out, w) {
					t.Errorf("summary has %q:\n%s", w, out)
				}
			}
		})
	}
	var b bytes.Buffer
	PrintSummary(&b, nil)
	if b.Len() != 0 {
		t.Fatalf("nil summary printed %q", b.String())
	}
}
