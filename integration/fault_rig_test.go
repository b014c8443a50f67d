package integration

// The fault suite's rig (issue 14): a copy rig whose target records every
// id it answers across restarts, a mixed load (half the requests on
// one-request connections, half on keep-alive connections of 100), faults
// injected with nftables inside the lab's namespaces, and one row per run:
// replay success, the copier's CPU time and peak RSS, the sessions left.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// faultRig is a copy rig with the copier running.
type faultRig struct {
	*copyRig
	targets []*lab.IDServer // the target's servers, one per (re)start
}

// newFaultRig builds the lab and starts the copier with extra [copy]
// config lines.
func newFaultRig(t *testing.T, extra ...string) *faultRig {
	t.Helper()
	f := &faultRig{copyRig: newCopyRig(t, needBinary(t, "up", "copy"))}
	f.startTarget()
	f.startCopier(copierConf{Extra: extra}, true)
	return f
}

// startTarget (re)starts the target's ID server.
func (f *faultRig) startTarget() {
	f.replaceTarget(lab.IDServerOptions{})
	f.targets = append(f.targets, f.Target)
}

// replayed counts the ids that one of the target's servers answered.
func (f *faultRig) replayed(ids []string) int {
	n := 0
	for _, id := range ids {
		for _, s := range f.targets {
			if s.Seen(id) {
				n++
				break
			}
		}
	}
	return n
}

// restartGateway SIGKILLs `replaygw up` and starts it again after pause.
func (f *faultRig) restartGateway(pause time.Duration) {
	f.t.Helper()
	if err := f.GW.Cmd.Process.Kill(); err != nil {
		f.t.Fatalf("kill gateway: %v", err)
	}
	<-f.GW.Done()
	time.Sleep(pause)
	var err error
	if f.GW, err = f.Lab.Start(lab.Assistant, f.GWLog, f.Opts.Binary, "up", "--config", f.GWConfig); err != nil {
		f.t.Fatal(err)
	}
	never := func() bool { return false }
	if err := f.WaitReady(context.Background(), lab.Assistant, f.GW, f.GWLog, time.Now().Add(f.Opts.ReadyTimeout), never, ""); err != nil {
		f.t.Fatal(err)
	}
}

// restartTarget stops the target's server (its connections close) and
// starts a new one on the same port after pause.
func (f *faultRig) restartTarget(pause time.Duration) {
	f.t.Helper()
	if err := f.Target.Close(); err != nil {
		f.t.Logf("stop target: %v", err)
	}
	time.Sleep(pause)
	f.startTarget()
}

// nft loads an nftables script in namespace ns ("" is refused: never the
// root namespace).
func nft(ns, script string) error {
	if ns == "" {
		return fmt.Errorf("nft: no namespace")
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s\n%s", ns, err, bytes.TrimSpace(out), script)
	}
	return nil
}

// needNft skips the test when nft is not installed (.ci/deps installs it).
func needNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed (make deps installs nftables)")
	}
}

var nftCounterRE = regexp.MustCompile(`counter packets (\d+)`)

// nftCounted sums the packet counters of table in ns.
func nftCounted(ns, family, table string) (uint64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", family, table).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nft list %s %s in %s: %w: %s", family, table, ns, err, out)
	}
	var n uint64
	for _, m := range nftCounterRE.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseUint(string(m[1]), 10, 64)
		n += v
	}
	return n, nil
}

// lossTable drops percent of the TCP packets on the target's LAN link,
// in and out, at random (numgen random; the kernel has no netem).
const lossTable = "rgwloss"

func lossScript(permille int) string {
	return fmt.Sprintf(`table inet %[1]s {
	chain in { type filter hook input priority -10; iifname %[2]q meta l4proto tcp numgen random mod 1000 < %[3]d counter drop; }
	chain out { type filter hook output priority -10; oifname %[2]q meta l4proto tcp numgen random mod 1000 < %[3]d counter drop; }
}
`, lossTable, lab.Iface, permille)
}

// dupTable duplicates percent of the packets towards the target (from the
// copier) and from the target (its responses, towards the assistant) on
// the lab's switch: the copy leaves the target's (or the assistant's)
// switch port at once, the original follows through the bridge.
const dupTable = "rgwdup"

func dupScript(l *lab.Lab, percent int) string {
	return fmt.Sprintf(`table netdev %[1]s {
	chain from_online { type filter hook ingress device "p-%[2]s" priority 0; ip daddr %[3]s numgen random mod 100 < %[4]d counter dup to "p-%[5]s"; }
	chain from_target { type filter hook ingress device "p-%[5]s" priority 0; ip daddr %[6]s numgen random mod 100 < %[4]d counter dup to "p-%[7]s"; }
}
`, dupTable, lab.Online, l.Addr(lab.Target), percent, lab.Target, l.Pool, lab.Assistant)
}

// mixedLoad is rate requests per second for d: half of them on
// one-request connections, half on keep-alive connections of 100
// requests, bounded in count (rate x d) and time (1.5 d + 10 s).
func mixedLoad(addr, prefix string, rate float64, d time.Duration) lab.LoadOptions {
	n := int(rate * d.Seconds())
	ka := n / 2 / 100
	return lab.LoadOptions{
		Addr: addr, Short: n - ka*100, KeepAlive: ka, PerConn: 100, Rate: rate,
		Concurrency: 64, Duration: d + d/2 + 10*time.Second, IDPrefix: prefix,
	}
}

// faultRow is what one run measured.
type faultRow struct {
	name               string
	answered, replayed int
	copierCPU          cpuTime
	peakRSS            int64 // KiB
	sessionsLeft       float64
	load               time.Duration
	fates              map[string]float64
	note               string
}

func (r faultRow) success() float64 { return lab.Percent(r.replayed, r.answered) }

// procStatusKiB reads one "Vm...:  N kB" field of /proc/pid/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("status of %d: no %s", pid, field)
}

// sessionsGauge is the copier's gauge of open sessions.
const sessionsGauge = "replaygw_engine_sessions_open"

// sessionsOpen reads the copier's open sessions; a copier without the
// gauge fails the test (a missing gauge must not read as none left).
func (f *faultRig) sessionsOpen() float64 {
	f.t.Helper()
	v, ok := f.copierMetrics()[sessionsGauge]
	if !ok {
		f.t.Fatalf("the copier exports no %s", sessionsGauge)
	}
	return v
}

// waitSessionsClosed waits up to limit for the copier to have no session
// open and returns how many are.
func (f *faultRig) waitSessionsClosed(limit time.Duration) float64 {
	end := time.Now().Add(limit)
	n := f.sessionsOpen()
	for n > 0 && time.Now().Before(end) {
		time.Sleep(200 * time.Millisecond)
		n = f.sessionsOpen()
	}
	return n
}

// run drives the load lo with fault applied: fault runs at mid-load (its
// return value is added to the row's note) when mid is set, else before
// the load. The ids answered online are then awaited at the target.
func (f *faultRig) run(name string, lo lab.LoadOptions, mid bool, fault func() string) faultRow {
	f.t.Helper()
	row := faultRow{name: name}
	pid := f.CP.Pid()
	cpu0, err := procCPU(pid)
	if err != nil {
		f.t.Fatal(err)
	}
	before := f.copierMetrics()
	if !mid && fault != nil {
		row.note = fault()
	}
	var (
		res  *lab.LoadResult
		lerr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		res, lerr = f.Lab.Load(context.Background(), lab.Client, lo)
	}()
	if mid && fault != nil {
		planned := time.Duration(float64(lo.Short+lo.KeepAlive*lo.PerConn) / lo.Rate * float64(time.Second))
		select {
		case <-time.After(planned / 2):
		case <-done:
		}
		row.note = fault()
	}
	<-done
	if lerr != nil {
		f.t.Fatal(lerr)
	}
	row.answered, row.load = len(res.OK), res.Elapsed
	f.waitReplayed(res.OK, 10*time.Second)
	// A request behind a few backed-off retransmissions may come after a
	// quiet spell: count once the copier's sessions have ended.
	row.sessionsLeft = f.waitSessionsClosed(15 * time.Second)
	row.replayed = f.replayed(res.OK)
	cpu1, err := procCPU(pid)
	if err != nil {
		f.t.Fatal(err)
	}
	row.copierCPU = cpu1.sub(cpu0)
	if row.peakRSS, err = procStatusKiB(pid, "VmHWM"); err != nil {
		f.t.Fatal(err)
	}
	after := f.copierMetrics()
	row.fates = map[string]float64{}
	fb := fates(before)
	for k, v := range fates(after) {
		if d := v - fb[k]; d != 0 {
			row.fates[k] = d
		}
	}
	f.t.Logf("%s: %s", name, row.line())
	if res.Failed > 0 {
		f.t.Logf("%s: the load saw %d failed requests (online side): %v", name, res.Failed, res.Errors)
	}
	f.copierAlive()
	return row
}

// waitReplayed waits until the target answered all ids, or nothing moved
// for two seconds, or limit passed; it returns how many it answered.
func (f *faultRig) waitReplayed(ids []string, limit time.Duration) int {
	end := time.Now().Add(limit)
	last, moved := f.replayed(ids), time.Now()
	for last < len(ids) && time.Now().Before(end) && time.Since(moved) < 2*time.Second {
		time.Sleep(100 * time.Millisecond)
		if n := f.replayed(ids); n != last {
			last, moved = n, time.Now()
		}
	}
	return last
}

func (r faultRow) line() string {
	s := fmt.Sprintf("replayed %d of %d answered = %.3f%% (load %.1fs); copier CPU %v, peak RSS %.1f MiB; sessions left %.0f; fates %v",
		r.replayed, r.answered, r.success(), r.load.Seconds(), r.copierCPU, float64(r.peakRSS)/1024, r.sessionsLeft, r.fates)
	if r.note != "" {
		s += "; " + r.note
	}
	return s
}

// faultTable renders rows as a Markdown table.
func faultTable(rows []faultRow) string {
	var b strings.Builder
	b.WriteString("| fault | answered online | replayed | success | copier CPU (user+sys) | copier peak RSS | sessions left | notes |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		if r.answered == 0 {
			fmt.Fprintf(&b, "| %s | - | - | - | - | - | - | %s |\n", r.name, r.note)
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.3f%% | %v | %.1f MiB | %.0f | %s |\n",
			r.name, r.answered, r.replayed, r.success(), r.copierCPU, float64(r.peakRSS)/1024, r.sessionsLeft, r.note)
	}
	return b.String()
}
