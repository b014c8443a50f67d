package integration

// The open-loop benchmark of the original TCPCopy (issue 10): tcpcopy 1.x on
// the online host and intercept 1.x on the assistant, in the same lab and
// the same fixed-rate steps as TestBenchOpenLoop, so that their CPU per
// request and peak RSS can be set beside the copier's and the gateway's.
// No replaygw runs: tcpcopy captures online:80 with its raw socket, rewrites
// the clients into the lab's pool and sends to target:80; the target routes
// the pool to the assistant, where intercept captures the responses with
// pcap and the kernel drops them (ip_forward 0). Skipped unless RGW_BENCH=1
// and RGW_BENCH_TCPCOPY names a directory holding both binaries (built from
// their upstream sources, outside this repository):
//
//	RGW_BENCH=1 RGW_BENCH_TCPCOPY=DIR go test ./integration -run '^TestBenchOpenLoopTcpcopy$' -count=1 -v -timeout 10m
//
// RGW_BENCH_RATES sets the steps as for TestBenchOpenLoop.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// tcInterceptPort is intercept's default control port, where tcpcopy
// connects to learn the target's responses.
const tcInterceptPort = 36524

// tcBinaries returns the tcpcopy and intercept binaries of RGW_BENCH_TCPCOPY,
// skipping the test when the benchmark is not asked for.
func tcBinaries(t *testing.T) (tcpcopy, intercept string) {
	t.Helper()
	if os.Getenv("RGW_BENCH") == "" {
		t.Skip("tcpcopy benchmark: set RGW_BENCH=1 to run it (see docs/benchmarks.md)")
	}
	dir := os.Getenv("RGW_BENCH_TCPCOPY")
	if dir == "" {
		t.Skip("tcpcopy benchmark: set RGW_BENCH_TCPCOPY to the directory holding tcpcopy and intercept")
	}
	tcpcopy, intercept = filepath.Join(dir, "tcpcopy"), filepath.Join(dir, "intercept")
	for _, p := range []string{tcpcopy, intercept} {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			t.Fatalf("RGW_BENCH_TCPCOPY=%s: no executable %s (%v)", dir, filepath.Base(p), err)
		}
	}
	return tcpcopy, intercept
}

// startTcpcopy runs intercept in the assistant and tcpcopy in the online
// host as the rig's two children (r.GW and r.CP, so the rig stops them on
// cleanup and ChildrenAlive watches them) and waits until a probe request
// is replayed to the target. It returns the command lines used.
func startTcpcopy(t *testing.T, r *copyRig, tcpcopy, intercept string) []string {
	t.Helper()
	if err := r.Lab.Sysctl(lab.Assistant, "net.ipv4.ip_forward", "0"); err != nil {
		t.Fatal(err)
	}
	target, assistant := r.Lab.Addr(lab.Target), r.Lab.Addr(lab.Assistant)
	pool := r.Lab.Pool
	if pool.Bits() != 24 {
		t.Fatalf("tcpcopy -c takes a /24 as a.b.c.x; the lab's pool is %v", pool)
	}
	icArgs := []string{intercept, "-i", lab.Iface, "-F", fmt.Sprintf("tcp and src host %s and src port 80", target),
		"-b", assistant.String(), "-l", filepath.Join(r.Dir, "intercept.log")}
	a4 := pool.Addr().As4()
	tcArgs := []string{tcpcopy, "-x", fmt.Sprintf("80-%s:80", target), "-s", assistant.String(),
		"-c", fmt.Sprintf("%d.%d.%d.x", a4[0], a4[1], a4[2]), "-l", filepath.Join(r.Dir, "tcpcopy.log")}
	var err error
	if r.GW, err = r.Lab.Start(lab.Assistant, r.GWLog, icArgs...); err != nil {
		t.Fatal(err)
	}
	killGroupAtEnd(t, r.GW)
	if err := waitListening(r.Lab, lab.Assistant, tcInterceptPort, r.GW, "intercept", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, lab.LogTail(filepath.Join(r.Dir, "intercept.log"), 15))
	}
	if r.CP, err = r.Lab.Start(lab.Online, r.CPLog, tcArgs...); err != nil {
		t.Fatal(err)
	}
	killGroupAtEnd(t, r.CP)
	if err := r.WaitReplay(context.Background(), time.Now().Add(r.Opts.ReadyTimeout)); err != nil {
		t.Fatalf("%v\nintercept log:\n%s\ntcpcopy log:\n%s", err,
			lab.LogTail(filepath.Join(r.Dir, "intercept.log"), 15), lab.LogTail(filepath.Join(r.Dir, "tcpcopy.log"), 15))
	}
	return []string{strings.Join(icArgs, " "), strings.Join(tcArgs, " ")}
}

// killGroupAtEnd stops p's whole process group in t.Cleanup: SIGTERM,
// then SIGKILL after 3 s, so nothing the tool forked outlives the test.
// Cleanups run last-registered first, so this runs before the rig's Close,
// and tcpcopy (started after intercept) stops first.
func killGroupAtEnd(t *testing.T, p *lab.Proc) {
	pid := p.Pid()
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.Done():
		case <-time.After(3 * time.Second):
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	})
}

// waitListening polls h's sockets until a TCP listener on port exists or
// p (named name) exits.
func waitListening(l *lab.Lab, h lab.Host, port int, p *lab.Proc, name string, limit time.Duration) error {
	end := time.Now().Add(limit)
	for {
		out, err := l.Exec(h, "ss", "-Hltn", fmt.Sprintf("sport = :%d", port)).Output()
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited before listening on %d: %v", name, port, p.Err())
		default:
		}
		if time.Now().After(end) {
			return fmt.Errorf("nothing listens on %s:%d after %v (ss: %v)", h, port, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBenchOpenLoopTcpcopy(t *testing.T) {
	tcpcopy, intercept := tcBinaries(t)
	steps := openSteps(t)
	r := newRigLab(t, tcpcopy) // the rig never runs its Binary: only the lab, ID servers and logs
	if err := r.Lab.Sysctl(lab.Client, "net.ipv4.ip_local_port_range", "1024 65535"); err != nil {
		t.Fatal(err)
	}
	cmds := startTcpcopy(t, r, tcpcopy, intercept)
	t.Logf("running:\n  assistant: %s\n  online:    %s", cmds[0], cmds[1])
	tc, ic := r.CP.Pid(), r.GW.Pid()
	mem := func(pid int) procMem {
		m, err := readProcMem(pid)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	time.Sleep(2 * time.Second)
	tc0, ic0 := mustCPU(t, tc), mustCPU(t, ic)
	time.Sleep(openIdle)
	idleTC, idleIC := mustCPU(t, tc).sub(tc0), mustCPU(t, ic).sub(ic0)
	tcIdle, icIdle := mem(tc), mem(ic)
	t.Logf("idle %v: CPU tcpcopy %v, intercept %v; tcpcopy %v; intercept %v", openIdle, idleTC, idleIC, tcIdle, icIdle)
	for _, p := range []struct {
		name string
		pid  int
	}{{"tcpcopy", tc}, {"intercept", ic}} {
		if top, err := smapsTop(p.pid, 6); err == nil {
			t.Logf("%s's largest mappings at idle (RSS):\n%s", p.name, top)
		}
	}

	var rows []openRow
	for i, st := range steps {
		out0 := r.Forwarded.Stats.Out.Load()
		tc0, ic0 := mustCPU(t, tc), mustCPU(t, ic)
		ts0, is0 := mustSwitches(t, tc), mustSwitches(t, ic)
		res := openLoad(t, r.Lab, r.Lab.Addr(lab.Online).String()+":80", fmt.Sprintf("t%d", i), st)
		time.Sleep(openTail)
		row := openRow{step: st, sent: st.rate * st.seconds, copier: mustCPU(t, tc).sub(tc0), gw: mustCPU(t, ic).sub(ic0),
			cpSw: mustSwitches(t, tc) - ts0, gwSw: mustSwitches(t, ic) - is0}
		seen := make(map[string]bool, len(res.OK))
		for _, id := range res.OK {
			seen[id] = true
		}
		row.ok = len(seen)
		row.replayed = waitSeen(r.Target, res.OK, 15*time.Second)
		row.cpHWM, row.gwHWM = mem(tc).hwm, mem(ic).hwm
		row.lat = lab.Percentile(res.Latencies, 99)
		if n := r.Forwarded.Stats.Out.Load() - out0; n != 0 {
			t.Errorf("step %d: the assistant sent %d pool-bound packets out again: it must drop the target's responses", i, n)
		}
		t.Logf("step %d: %d req/s for %d s: sent %d, answered %d (failed %d, not sent %d), replayed %d (%.3f%%); CPU tcpcopy %v, intercept %v; p99 %v; errors %v",
			i, st.rate, st.seconds, row.sent, row.ok, res.Failed, res.NotSent, row.replayed,
			lab.Percent(row.replayed, row.ok), row.copier, row.gw, row.lat, res.Errors)
		rows = append(rows, row)
		if err := r.ChildrenAlive(); err != nil {
			t.Fatal(err)
		}
	}
	tcReplayedInPool(t, r)
	t.Logf("open-loop benchmark of tcpcopy + intercept (plain veth, %d keep-alive connections of %d requests + short connections, half each):\n%s",
		openKeepAliveConns, openPerConn, tcTable(rows, idleTC, idleIC, tcIdle, icIdle))
}

// tcReplayedInPool fails t unless every request the target saw came from
// the pool (tcpcopy -c) and no pool-bound packet reached the client's or
// the online host's LAN interface: the responses went to the assistant only.
func tcReplayedInPool(t *testing.T, r *copyRig) {
	t.Helper()
	srcs := r.Target.Sources()
	inPool := 0
	for a, n := range srcs {
		if !r.Lab.Pool.Contains(a) {
			t.Errorf("the target saw %d requests from %v, outside the pool %v", n, a, r.Lab.Pool)
			continue
		}
		inPool++
	}
	for _, pc := range r.Leaks {
		if n := pc.Matched(); n != 0 {
			t.Errorf("%d pool-bound packets leaked onto a LAN interface", n)
		}
	}
	t.Logf("the target saw %d client addresses of the pool; the assistant captured %d pool-bound packets",
		inPool, r.Forwarded.Stats.In.Load())
}

// tcTable renders the tcpcopy steps as a Markdown table (openRow's copier
// and gateway fields hold tcpcopy's and intercept's figures).
func tcTable(rows []openRow, idleTC, idleIC cpuTime, tcIdle, icIdle procMem) string {
	per10 := func(c cpuTime) float64 { return c.total().Seconds() * float64(10*time.Second) / float64(openIdle) }
	var b strings.Builder
	fmt.Fprintf(&b, "idle per 10 s: tcpcopy %.2f s CPU, RSS %.1f MB; intercept %.2f s CPU, RSS %.1f MB\n\n",
		per10(idleTC), mb(tcIdle.rss), per10(idleIC), mb(icIdle.rss))
	b.WriteString("| step | answered online | replayed | success | tcpcopy CPU (user+sys) | tcpcopy µs/req | intercept CPU | intercept µs/req | tcpcopy peak RSS | intercept peak RSS | client p99 | tcpcopy switches/req | intercept switches/req |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		cells := []string{
			fmt.Sprintf("%d req/s × %d s", row.step.rate, row.step.seconds),
			fmt.Sprintf("%d of %d", row.ok, row.sent),
			strconv.Itoa(row.replayed),
			fmt.Sprintf("%.3f%%", lab.Percent(row.replayed, row.ok)),
			row.copier.String(), usPerReq(row.copier, row.ok),
			row.gw.String(), usPerReq(row.gw, row.ok),
			fmt.Sprintf("%.1f MB", mb(row.cpHWM)), fmt.Sprintf("%.1f MB", mb(row.gwHWM)),
			row.lat.Round(10 * time.Microsecond).String(),
			perReq(row.cpSw, row.ok), perReq(row.gwSw, row.ok),
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

// usPerReq is c in whole µs per request of n.
func usPerReq(c cpuTime, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(c.total().Microseconds())/float64(n))
}
