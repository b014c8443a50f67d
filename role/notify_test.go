package role

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Notify sends the state as one datagram to $NOTIFY_SOCKET, path or
// abstract, and does nothing without it.
func TestNotify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		abstract bool
	}{{"path", false}, {"abstract", true}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := filepath.Join(t.TempDir(), "notify")
			env := addr
			if tc.abstract {
				env = "@replaygw-notify-test-" + strings.ReplaceAll(t.Name(), "/", "-")
				addr = "\x00" + env[1:]
			}
			ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			t.Setenv("NOTIFY_SOCKET", env)
			if err := Notify("READY=1"); err != nil {
				t.Fatal(err)
			}
			ln.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 64)
			n, err := ln.Read(buf)
			if err != nil || string(buf[:n]) != "READY=1" {
				t.Fatalf("got %q %v, want READY=1", buf[:n], err)
			}
		})
	}
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if err := Notify("READY=1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "gone")
		t.Setenv("NOTIFY_SOCKET", p)
		if err := Notify("READY=1"); err == nil || !strings.Contains(err.Error(), "notify "+p) {
			t.Fatalf("%v, want an error naming the socket", err)
		}
	})
}
