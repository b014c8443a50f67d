package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// binary is the real replaygw built once by TestMain ("" when the build
// failed; buildErr says why).
var (
	replaygwBin string
	buildErr    error
)

func TestMain(m *testing.M) {
	if runFakeRole() {
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "rgL-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Geteuid() == 0 {
		// Built as shipped (Makefile): static, no cgo. A cgo build cannot
		// drop capabilities on every thread (privdrop).
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "replaygw"), "../cmd/replaygw")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
		} else {
			replaygwBin = filepath.Join(dir, "replaygw")
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needBinary skips the test unless root, the real binary built and it has
// the commands cmds.
func needBinary(t *testing.T, cmds ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if replaygwBin == "" {
		t.Skipf("replaygw binary does not build yet, skipping end-to-end test: %v", buildErr)
	}
	for _, cmd := range cmds {
		out, _ := exec.Command(replaygwBin, cmd, "--help").CombinedOutput()
		if bytes.Contains(out, []byte("unknown command")) {
			t.Skipf("replaygw %s is not wired into the binary yet, skipping end-to-end test", cmd)
		}
	}
	return replaygwBin
}

// assertDemoCleaned checks that nothing of a demo run is left.
func assertDemoCleaned(t *testing.T, prefix string, res *lab.DemoResult) {
	t.Helper()
	lab.AssertNoNamespaces(t, fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	if res != nil && res.LogDir != "" {
		if _, err := os.Stat(res.LogDir); err == nil {
			t.Errorf("temp dir %s left behind after a successful demo", res.LogDir)
		}
	}
}

func TestDemo(t *testing.T) {
	bin := needBinary(t, "up", "copy")
	var out bytes.Buffer
	res, err := lab.Demo(context.Background(), lab.DemoOptions{Binary: bin, Duration: 3 * time.Second, Logger: lab.Logger(t)}, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Success < 99 {
		t.Errorf("success %.2f%% < 99%%", res.Success)
	}
	if res.Sent < 1400 {
		t.Errorf("only %d requests answered online (3s at 500/s)", res.Sent)
	}
	if res.Leaked != 0 {
		t.Errorf("%d pool-bound packets leaked", res.Leaked)
	}
	if res.PoolSources == 0 || res.OtherSources != 0 {
		t.Errorf("target clients: %d pool addresses, %d requests from outside the pool", res.PoolSources, res.OtherSources)
	}
	assertDemoCleaned(t, "rgdemo", res)
}

// TestDemoOrchestration runs the demo with stand-in roles (the test binary
// itself, see fake_roles_test.go) so its lifecycle is tested even before the
// real product works.
func TestDemoOrchestration(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("replay", func(t *testing.T) {
		t.Setenv(fakeEnv, "replay")
		var out bytes.Buffer
		start := time.Now()
		res, err := lab.Demo(context.Background(), lab.DemoOptions{Binary: self, Duration: 2 * time.Second, Prefix: "rgLdemo"}, &out)
		t.Logf("demo output (%v):\n%s", time.Since(start), out.String())
		if err != nil {
			t.Fatal(err)
		}
		if res.Success < 99 || res.Sent < 500 { // 1000 planned; a busy machine may drop some client requests

			t.Errorf("sent %d success %.2f%%", res.Sent, res.Success)
		}
		// The fake replays from the online host's own address: nothing is
		// pool-bound, so any count here would be a counter bug.
		if res.Leaked != 0 {
			t.Errorf("leaked %d", res.Leaked)
		}
		if rows := strings.Count(out.String(), "%  "); rows < 2 {
			t.Errorf("live table has %d rows", rows)
		}
		if !strings.Contains(out.String(), "summary: ") {
			t.Error("no summary line")
		}
		assertDemoCleaned(t, "rgLdemo", res)
	})
	t.Run("nothing replayed", func(t *testing.T) {
		t.Setenv(fakeEnv, "silent")
		var out bytes.Buffer
		res, err := lab.Demo(context.Background(), lab.DemoOptions{Binary: self, Duration: time.Second, ReadyTimeout: 2 * time.Second, Prefix: "rgLdemo"}, &out)
		if err == nil {
			t.Fatalf("demo without replay succeeded:\n%s", out.String())
		}
		if !strings.Contains(err.Error(), "no probe request reached the target") || !strings.Contains(out.String(), res.LogDir) {
			t.Errorf("error %v, output:\n%s", err, out.String())
		}
		if _, serr := os.Stat(filepath.Join(res.LogDir, "copier.log")); serr != nil {
			t.Errorf("logs not kept on failure: %v", serr)
		}
		os.RemoveAll(res.LogDir)
		assertDemoCleaned(t, "rgLdemo", nil)
	})
	t.Run("canceled", func(t *testing.T) {
		t.Setenv(fakeEnv, "replay")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(2500*time.Millisecond, cancel) // mid-load
		var out bytes.Buffer
		start := time.Now()
		res, err := lab.Demo(ctx, lab.DemoOptions{Binary: self, Duration: 30 * time.Second, Prefix: "rgLdemo"}, &out)
		if err == nil {
			t.Fatal("canceled demo returned no error")
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("cancel took effect after %v", took)
		}
		os.RemoveAll(res.LogDir)
		assertDemoCleaned(t, "rgLdemo", nil)
	})
	t.Run("child crashes", func(t *testing.T) {
		t.Setenv(fakeEnv, "replay")
		var out bytes.Buffer
		res, err := lab.Demo(context.Background(), lab.DemoOptions{Binary: "/bin/false", Duration: time.Second, ReadyTimeout: 3 * time.Second, Prefix: "rgLdemo"}, &out)
		if err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
			t.Errorf("err = %v", err)
		}
		os.RemoveAll(res.LogDir)
		assertDemoCleaned(t, "rgLdemo", nil)
	})
}

// TestGatewayAbsorbsPoolTraffic runs only `replaygw up` in the assistant
// namespace and checks the black hole: the target's pool-bound packets
// reach the assistant and nothing goes back out onto the LAN, nor toward
// real clients.
func TestGatewayAbsorbsPoolTraffic(t *testing.T) {
	bin := needBinary(t, "up")
	l := lab.NewTestLab(t, lab.LabOptions{})
	cfg := lab.NewDemoConfig(l)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.toml")
	if err := os.WriteFile(path, []byte(cfg.GatewayTOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	gw, err := l.Start(lab.Assistant, logf, bin, "up", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := gw.Stop(5 * time.Second); err != nil {
			t.Logf("gateway stop: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", lab.LogTail(logf.Name(), 40))
		}
	})
	// Ready: the TUN exists in the assistant namespace.
	lab.WaitFor(t, 10*time.Second, func() bool {
		return l.Exec(lab.Assistant, "ip", "link", "show", cfg.TUN).Run() == nil
	})
	if err := l.Exec(lab.Assistant, "ip", "link", "show", cfg.TUN).Run(); err != nil {
		t.Fatalf("TUN %s not up in the assistant: %v\n%s", cfg.TUN, err, lab.LogTail(logf.Name(), 20))
	}
	pools := []netip.Prefix{l.Pool, l.Pool6}
	assistant, err := l.NewPacketCounter(lab.Assistant, lab.Iface, pools...)
	if err != nil {
		t.Fatal(err)
	}
	client, err := l.NewPacketCounter(lab.Client, lab.Iface, pools...)
	if err != nil {
		t.Fatal(err)
	}
	online, err := l.NewPacketCounter(lab.Online, lab.Iface, pools...)
	if err != nil {
		t.Fatal(err)
	}
	// The target answers "clients" in the pool: SYN-ACK-like traffic is
	// what it would send; TCP connects from the target to pool addresses
	// are a simple way to make it send pool-bound TCP segments.
	const n = 50
	err = l.Do(lab.Target, func() error {
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("10.88.0.%d:80", 1+i%200))
			cancel()
			if err == nil {
				c.Close()
				return fmt.Errorf("connect to pool address 10.88.0.%d succeeded: something answered", 1+i%200)
			}
			// Only silence is right: a refusal means an RST came back, an
			// unreachable means an ICMP error did.
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				return fmt.Errorf("connect to pool address: %w (want a timeout: the black hole answers nothing)", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lab.WaitFor(t, 2*time.Second, func() bool { return assistant.Stats.In.Load() >= n })
	time.Sleep(200 * time.Millisecond)
	if got := assistant.Stats.In.Load(); got < n {
		t.Errorf("assistant received %d pool-bound packets, want >= %d", got, n)
	}
	if got := assistant.Stats.Out.Load(); got != 0 {
		t.Errorf("assistant sent %d pool-bound packets back onto the LAN", got)
	}
	// The kernel transmitted them into the TUN (the gateway reads them
	// there) and the gateway wrote nothing back.
	rx, tx, err := l.LinkStats(lab.Assistant, cfg.TUN)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("assistant received %d pool-bound packets; TUN handed %d to the gateway, got %d back", assistant.Stats.In.Load(), tx, rx)
	if tx < n {
		t.Errorf("TUN %s: %d packets handed to the gateway, want >= %d", cfg.TUN, tx, n)
	}
	if rx != 0 {
		t.Errorf("TUN %s: the gateway wrote %d packets back", cfg.TUN, rx)
	}
	if got := client.Matched() + online.Matched(); got != 0 {
		t.Errorf("client/online saw %d pool-bound packets", got)
	}
	select {
	case <-gw.Done():
		t.Fatalf("gateway exited: %v\n%s", gw.Err(), lab.LogTail(logf.Name(), 20))
	default:
	}
}

// TestReplay runs both real roles in a lab and checks each traffic shape
// arrives complete at the target, from pool addresses only.
func TestReplay(t *testing.T) {
	replayCases(t, needBinary(t, "up", "copy"), true)
}

// TestReplayRig runs the same cases with the stand-in roles, proving the
// rig and its assertions work before the product does.
func TestReplayRig(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeEnv, "replay")
	replayCases(t, self, false)
}

func replayCases(t *testing.T, bin string, wantPool bool) {
	var out bytes.Buffer
	d := &lab.Rig{
		Opts: lab.DemoOptions{Binary: bin, Prefix: "rgLe2e", ReadyTimeout: 20 * time.Second, Logger: lab.Logger(t)},
		Out:  &out, Dir: t.TempDir(), Res: &lab.DemoResult{},
	}
	if err := d.Opts.Defaults(); err != nil {
		t.Fatal(err)
	}
	closeRigAtEnd(t, d, &out, "rgLe2e")
	if err := d.Setup(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.StartChildren(ctx); err != nil {
		t.Fatal(err)
	}
	online := d.Lab.Addr(lab.Online).String() + ":80"
	for _, tc := range []struct {
		name string
		lo   lab.LoadOptions
	}{
		{"short connections", lab.LoadOptions{Short: 300, Rate: 300}},
		{"keep-alive connections", lab.LoadOptions{KeepAlive: 6, PerConn: 50, Rate: 300}},
		{"mixed burst", lab.LoadOptions{Short: 200, KeepAlive: 4, PerConn: 50, Concurrency: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo := tc.lo
			lo.Addr, lo.Duration = online, 10*time.Second
			lo.IDPrefix = strings.ReplaceAll(tc.name, " ", "_")
			res, err := d.Lab.Load(ctx, lab.Client, lo)
			if err != nil {
				t.Fatal(err)
			}
			want := lo.Short + lo.KeepAlive*lo.PerConn
			if len(res.OK) != want {
				t.Fatalf("online answered %d of %d (failed %d, not sent %d): %v", len(res.OK), want, res.Failed, res.NotSent, res.Errors)
			}
			lab.WaitFor(t, 5*time.Second, func() bool { return d.Target.CountSeen(res.OK) == want })
			if got := d.Target.CountSeen(res.OK); got != want {
				t.Errorf("target saw %d of %d requests", got, want)
			}
		})
	}
	if n := d.Target.Stats.Duplicates.Load(); n != 0 {
		t.Errorf("target saw %d duplicate requests", n)
	}
	var pool, other int
	for a, n := range d.Target.Sources() {
		if d.Lab.Pool.Contains(a) {
			pool++
		} else {
			other += n
		}
	}
	if wantPool && (pool == 0 || other != 0) {
		t.Errorf("target clients: %d pool addresses, %d requests from elsewhere", pool, other)
	}
	for _, pc := range d.Leaks {
		if n := pc.Matched(); n != 0 {
			t.Errorf("%d pool-bound packets on a LAN interface of client/online", n)
		}
	}
	if n := d.Forwarded.Stats.Out.Load(); n != 0 {
		t.Errorf("assistant sent %d pool-bound packets back out", n)
	}
}
