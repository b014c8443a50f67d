package copier

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestWarnBehind(t *testing.T) {
	prev := behindCounts{kernelDrops: 5, queueDrops: 1, recordDrops: 2, waits: 10, recordWaits: 3}
	for _, tc := range []struct {
		name string
		cur  behindCounts
		want []string // in the log line; nil: no line
	}{
		{"nothing grew", prev, nil},
		{"waits only", behindCounts{5, 1, 2, 17, 3}, []string{"waited for a full worker queue", "engine_capture_waits=7", "workers=3", "raise copy.workers"}},
		{"kernel drops", behindCounts{9, 1, 2, 10, 3}, []string{"packets lost", "capture_kernel_drops=4", "engine_capture_waits=0"}},
		{"queue drops", behindCounts{5, 4, 2, 10, 3}, []string{"packets lost", "engine_packets_queue_dropped=3"}},
		{"record drops", behindCounts{5, 1, 3, 10, 3}, []string{"packets lost", "engine_records_queue_dropped=1"}},
		{"record waits", behindCounts{5, 1, 2, 10, 8}, []string{"waited for a full worker queue", "engine_record_waits=5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			logged := warnBehind(log, prev, tc.cur, 3, 10*time.Second)
			if logged != (tc.want != nil) {
				t.Fatalf("logged %v, want %v: %s", logged, tc.want != nil, buf.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("log %q lacks %q", buf.String(), w)
				}
			}
		})
	}
}
