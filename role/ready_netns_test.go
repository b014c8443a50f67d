package role

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/lab/netns"
)

const readyEnv = "RGW_ROLE_READY_HELPER"

// TestReadyHelper is the gateway process of TestGatewayNotifiesReady: it
// runs RunGateway (which drops this process's capabilities) from the
// config described by $RGW_ROLE_READY_HELPER until SIGTERM.
func TestReadyHelper(t *testing.T) {
	spec := os.Getenv(readyEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	f := strings.Split(spec, ",") // tun,ingress,listen
	cfg := &configs.Config{Path: "ready.toml", Gateway: &configs.Gateway{
		TUN: f[0], Ingress: f[1], Listen: f[2], Pools: []string{"10.88.9.0/24"},
		PoolPrefixes: []netip.Prefix{netip.MustParsePrefix("10.88.9.0/24")}, Secret: "s3cret", Queues: 1,
	}}
	cfg.SetDefaults()
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		stop()
	}()
	if err := RunGateway(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintln(os.Stderr, "RunGateway:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// `up` tells systemd it is ready (READY=1 on $NOTIFY_SOCKET) only once the
// TUN exists and the control channel accepts copiers.
func TestGatewayNotifiesReady(t *testing.T) {
	l := netns.NewPair(t, "rgR", "10.88.9.0/24")
	tun := l.Link("r")
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const listen = "127.0.0.1:36599"
	cmd := exec.Command("ip", "netns", "exec", l.GW, os.Args[0], "-test.run=^TestReadyHelper$")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, readyEnv+"="+tun+","+l.VethG+","+listen)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("gateway exited: %v\n%s", err, logs.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("gateway did not stop on SIGTERM\n%s", logs.String())
		}
	})

	ln.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 256)
	n, err := ln.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("notification %q, %v; want READY=1\n%s", buf[:n], err, logs.String())
	}
	// Ready means up: the TUN is there and the control channel accepts.
	if out := netns.Exec(t, l.GW, "ip", "link", "show", tun); !strings.Contains(out, tun) {
		t.Errorf("no TUN %s when READY=1 arrived: %s", tun, out)
	}
	netns.InNS(t, l.GW, func() error {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			return fmt.Errorf("control channel not accepting when READY=1 arrived: %w", err)
		}
		return c.Close()
	})
}
