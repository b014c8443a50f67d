package configs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogHandler(t *testing.T) {
	for _, tc := range []struct {
		log   Log
		level slog.Level
		json  bool
	}{
		{Log{Level: "debug", Format: "json"}, slog.LevelDebug, true},
		{Log{Level: "info", Format: "text"}, slog.LevelInfo, false},
		{Log{Level: "warn"}, slog.LevelWarn, false},
		{Log{Level: "error"}, slog.LevelError, false},
	} {
		if got := tc.log.SlogLevel(); got != tc.level {
			t.Errorf("%+v: level %v, want %v", tc.log, got, tc.level)
		}
		var buf bytes.Buffer
		l := slog.New(tc.log.Handler(&buf))
		l.Debug("d")
		l.Error("e")
		out := buf.String()
		if strings.HasPrefix(out, "{") != tc.json {
			t.Errorf("%+v: output %q, json %v", tc.log, out, tc.json)
		}
		if strings.Contains(out, `"d"`) || strings.Contains(out, "msg=d") {
			if tc.level > slog.LevelDebug {
				t.Errorf("%+v: debug logged at level %v", tc.log, tc.level)
			}
		} else if tc.level == slog.LevelDebug {
			t.Errorf("%+v: debug not logged: %q", tc.log, out)
		}
	}
}
