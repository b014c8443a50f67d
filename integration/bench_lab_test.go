package integration

// The end-to-end lab benchmark (`make bench`): replay success and CPU time
// of the copier against the online server it copies, at rising load, for
// short connections from one client address and for keep-alive
// connections. Skipped unless RGW_BENCH=1:
//
//	RGW_BENCH=1 go test ./integration -run '^TestBenchLab$' -count=1 -v -timeout 15m
//
// Environment:
//
//	RGW_BENCH_CONNS   wrk connections of the short-connection steps [1,4,16,64]
//	RGW_BENCH_KA      wrk connections of the keep-alive steps [4,16,64]
//	RGW_BENCH_SECONDS length of a step [4]
//	RGW_BENCH_NAPI=0  keep the veth links' default receive (see napi.go)
//	RGW_BENCH_PERF=DIR record each step's copier profile (perf record -g) in DIR
//	RGW_BENCH_STRICT=1 fail unless the last short step reaches 99.9 % and
//	                  the copier used less CPU than the online server
//
// The result goes to the test log as a Markdown table (docs/benchmarks.md).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// benchStep is one load level of the lab benchmark.
type benchStep struct {
	shape string // "short" or "keep-alive"
	conns int    // wrk connections
}

// benchRow is what one step measured.
type benchRow struct {
	step                       benchStep
	answered, replayed         int
	achieved                   float64 // requests per second answered online
	copier, online, gw, target cpuTime
	wrk                        cpuTime
	machine                    machineCPU
	fates                      map[string]float64 // non-zero deltas
	drops                      map[string]float64 // non-zero deltas of drop/error/retransmit counters
	wrkErrors                  string
}

func envInts(name string, def []int) []int {
	env := os.Getenv(name)
	if env == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	return out
}

func TestBenchLab(t *testing.T) {
	if os.Getenv("RGW_BENCH") == "" {
		t.Skip("lab benchmark: set RGW_BENCH=1 to run it (see docs/benchmarks.md)")
	}
	wrk := needWrk(t)
	bin := needBinary(t, "up", "copy")
	dir := t.TempDir()
	srvBin := filepath.Join(dir, "idsrv")
	if out, err := exec.Command("go", "build", "-o", srvBin, "./testdata/idsrv").CombinedOutput(); err != nil {
		t.Fatalf("build idsrv: %v\n%s", err, out)
	}
	seconds := 4
	if v := envInts("RGW_BENCH_SECONDS", nil); len(v) > 0 {
		seconds = min(v[0], 30)
	}
	napi := os.Getenv("RGW_BENCH_NAPI") != "0"

	r := newCopyRig(t, bin)
	if napi {
		if err := r.Lab.ThreadedNAPI(); err != nil {
			t.Fatal(err)
		}
	}
	// One client address opens tens of thousands of connections.
	if err := r.Lab.Sysctl(lab.Client, "net.ipv4.ip_local_port_range", "1024 65535"); err != nil {
		t.Fatal(err)
	}
	// The online server and the target are idsrv processes, so that the CPU
	// time of each can be read like the copier's.
	r.Online.Close()
	r.Target.Close()
	srvLog, err := os.Create(filepath.Join(dir, "idsrv.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer srvLog.Close()
	var srv [2]*lab.Proc
	for i, h := range []lab.Host{lab.Online, lab.Target} {
		if srv[i], err = r.Lab.Start(h, srvLog, srvBin, "-listen", ":80", "-admin", idsrvAdmin); err != nil {
			t.Fatal(err)
		}
	}
	addr := r.Lab.Addr(lab.Online).String() + ":80"
	for _, h := range []lab.Host{lab.Online, lab.Target} {
		a := r.Lab.Addr(h).String() + ":80"
		lab.WaitFor(t, 10*time.Second, func() bool {
			res, err := r.Lab.Load(context.Background(), lab.Client, lab.LoadOptions{Addr: a, Short: 1, Duration: time.Second})
			return err == nil && len(res.OK) == 1
		})
	}
	// The generator's ceiling: wrk against the online server alone, with
	// no copier, gateway work or replayed traffic on the machine.
	base := runWrk(t, r.Lab, wrk, dir, wrkRun{addr: addr, prefix: "base.", conns: 64, short: true,
		duration: time.Duration(seconds) * time.Second, max: 60000})
	baseIDs, err := answeredIDs(r.Lab, lab.Online, "base.")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without the copier: wrk (64 connections, short) reaches %.0f connections/s against the online server (wrk CPU %v) [%s]",
		float64(len(baseIDs))/float64(seconds), base.cpu, base.socketErrors())

	var extra []string
	if w := envInts("RGW_BENCH_WORKERS", nil); len(w) > 0 {
		extra = append(extra, fmt.Sprintf("workers = %d", w[0]))
	}
	if g := os.Getenv("RGW_BENCH_GOMAXPROCS"); g != "" {
		t.Setenv("GOMAXPROCS", g) // inherited by the copier only: this process is running
	}
	r.startCopier(copierConf{Extra: extra}, false)
	// Ready when a request answered online reaches the target.
	lab.WaitFor(t, 20*time.Second, func() bool {
		res, err := r.Lab.Load(context.Background(), lab.Client, lab.LoadOptions{Addr: addr, Short: 1, IDPrefix: "probe", Duration: time.Second})
		if err != nil || len(res.OK) != 1 {
			return false
		}
		got, err := answeredIDs(r.Lab, lab.Target, "probe")
		return err == nil && len(got) > 0
	})

	snap := func() ([5]cpuTime, machineCPU) {
		var out [5]cpuTime
		for i, pid := range []int{r.CP.Pid(), srv[0].Pid(), r.GW.Pid(), srv[1].Pid()} {
			d, err := procCPU(pid)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = d
		}
		m, err := readMachineCPU()
		if err != nil {
			t.Fatal(err)
		}
		return out, m
	}
	idle0, _ := snap()
	time.Sleep(3 * time.Second)
	idle1, _ := snap()
	t.Logf("idle for 3s: CPU (user+sys) copier %v, online server %v, gateway %v, target %v",
		idle1[0].sub(idle0[0]), idle1[1].sub(idle0[1]), idle1[2].sub(idle0[2]), idle1[3].sub(idle0[3]))

	var steps []benchStep
	for _, c := range envInts("RGW_BENCH_CONNS", []int{1, 4, 16, 64}) {
		steps = append(steps, benchStep{"short", c})
	}
	lastShort := len(steps) - 1
	for _, c := range envInts("RGW_BENCH_KA", []int{4, 16, 64}) {
		steps = append(steps, benchStep{"keep-alive", c})
	}
	var rows []benchRow
	for i, st := range steps {
		prefix := fmt.Sprintf("b%d.", i)
		before := r.copierMetrics()
		cpu0, m0 := snap()
		// Bounds: the duration, and per thread 60,000 requests (more than
		// this machine answers in a step).
		var perf *exec.Cmd
		if pd := os.Getenv("RGW_BENCH_PERF"); pd != "" {
			perf = exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(r.CP.Pid()),
				"-o", filepath.Join(pd, fmt.Sprintf("step%d-%s-%d.data", i, st.shape, st.conns)), "--", "sleep", strconv.Itoa(seconds))
			if err := perf.Start(); err != nil {
				t.Fatalf("perf: %v", err)
			}
		}
		res := runWrk(t, r.Lab, wrk, dir, wrkRun{addr: addr, prefix: prefix, conns: st.conns,
			short: st.shape == "short", duration: time.Duration(seconds) * time.Second, max: 60000})
		if perf != nil {
			if err := perf.Wait(); err != nil {
				t.Logf("perf: %v", err)
			}
		}
		online, err := answeredIDs(r.Lab, lab.Online, prefix)
		if err != nil {
			t.Fatal(err)
		}
		row := benchRow{step: st, answered: len(online), wrk: res.cpu, wrkErrors: res.socketErrors()}
		row.replayed = waitReplayed(t, r.Lab, prefix, online, 15*time.Second)
		time.Sleep(time.Second) // let the last sessions end and count their fates
		cpu1, m1 := snap()
		after := r.copierMetrics()
		row.copier, row.online, row.gw, row.target = cpu1[0].sub(cpu0[0]), cpu1[1].sub(cpu0[1]), cpu1[2].sub(cpu0[2]), cpu1[3].sub(cpu0[3])
		row.machine = m1.sub(m0)
		row.achieved = float64(row.answered) / float64(seconds)
		row.fates, row.drops = make(map[string]float64), make(map[string]float64)
		fb, fa := fates(before), fates(after)
		for k, v := range fa {
			if d := v - fb[k]; d != 0 {
				row.fates[k] = d
			}
		}
		for k, v := range after {
			if (strings.Contains(k, "drop") || strings.Contains(k, "error") || strings.Contains(k, "retransmit") || strings.Contains(k, "waits") || strings.Contains(k, "growths") || strings.Contains(k, "freezes")) && v != before[k] {
				row.drops[strings.TrimPrefix(k, "replaygw_")] = v - before[k]
			}
		}
		t.Logf("step %d %s, %d connections: %s", i, st.shape, st.conns, row.line())
		if d := after["replaygw_engine_sessions_started_total"] - before["replaygw_engine_sessions_started_total"]; d > 0 {
			per := func(k string) float64 { return (after["replaygw_engine_"+k] - before["replaygw_engine_"+k]) / d }
			t.Logf("step %d per session: %.2f packets sent (%.2f SYN, %.2f pure ACK, %.2f FIN), %.2f records in",
				i, per("packets_sent_total"), per(`segments_sent_total{kind="syn"}`), per(`segments_sent_total{kind="ack"}`),
				per(`segments_sent_total{kind="fin"}`), per("records_in_total"))
		}
		if os.Getenv("RGW_BENCH_NSTAT") != "" {
			for _, h := range []lab.Host{lab.Online, lab.Target, lab.Assistant, lab.Client} {
				out, _ := r.Lab.Exec(h, "sh", "-c", "nstat -a; ip -s link show eth0").CombinedOutput()
				t.Logf("nstat %s:\n%s", h, out)
			}
			out, _ := exec.Command("ip", "netns", "exec", r.Lab.SwitchNS(), "ip", "-s", "link").CombinedOutput()
			t.Logf("switch:\n%s", out)
			var gw []string
			for k, v := range r.gatewayMetrics() {
				if v != 0 && strings.HasPrefix(k, "replaygw_") {
					gw = append(gw, fmt.Sprintf("%s=%.0f", k, v))
				}
			}
			sort.Strings(gw)
			t.Logf("gateway metrics: %s", strings.Join(gw, " "))
		}
		rows = append(rows, row)
		r.copierAlive()
	}
	workers := "default"
	if len(extra) > 0 {
		workers = extra[0]
	}
	t.Logf("lab benchmark (wrk, one client address, %d s per step, threaded NAPI %v, copier %s, GOMAXPROCS %q, %d CPUs):\n%s",
		seconds, napi, workers, os.Getenv("GOMAXPROCS"), runtime.NumCPU(), benchTable(rows))
	for _, row := range rows {
		if row.step.shape == "short" && lab.Percent(row.replayed, row.answered) < 99.9 {
			t.Logf("goal not met: short connections, %d wrk connections (%.0f/s): %.3f%% replayed; fates %v; drops %v",
				row.step.conns, row.achieved, lab.Percent(row.replayed, row.answered), row.fates, row.drops)
		}
	}
	if os.Getenv("RGW_BENCH_STRICT") != "" && lastShort >= 0 {
		last := rows[lastShort]
		if p := lab.Percent(last.replayed, last.answered); p < 99.9 {
			t.Errorf("short connections at the highest load: %.3f%% replayed < 99.9%%", p)
		}
		if last.copier.total() >= last.online.total() {
			t.Errorf("short connections at the highest load: copier CPU %v >= online server %v", last.copier, last.online)
		}
	}
}

// benchTable renders the rows as a Markdown table.
func benchTable(rows []benchRow) string {
	var b strings.Builder
	b.WriteString("| shape | wrk conns | answered online | achieved /s | replayed | success | copier CPU (user+sys) | online server CPU | copier/online | gateway CPU | target CPU | wrk CPU | machine busy |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		ratio := "-"
		if row.online.total() > 0 {
			ratio = fmt.Sprintf("%.2f", row.copier.total().Seconds()/row.online.total().Seconds())
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %d | %.3f%% | %v | %v | %s | %v | %v | %v | %.2f of %.2f CPU-s |\n",
			row.step.shape, row.step.conns, row.answered, row.achieved, row.replayed, lab.Percent(row.replayed, row.answered),
			row.copier, row.online, ratio, row.gw, row.target, row.wrk, row.machine.busy.Seconds(), row.machine.all.Seconds())
	}
	return b.String()
}

func (row benchRow) line() string {
	keys := func(m map[string]float64) string {
		var s []string
		for k, v := range m {
			s = append(s, fmt.Sprintf("%s=%.0f", k, v))
		}
		sort.Strings(s)
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("answered %d (%.0f/s), replayed %d (%.3f%%); CPU (user+sys) copier %v, online %v, gateway %v, target %v, wrk %v; machine busy %.2f of %.2f CPU-s; fates [%s]; drops/errors [%s]; wrk [%s]",
		row.answered, row.achieved, row.replayed, lab.Percent(row.replayed, row.answered),
		row.copier, row.online, row.gw, row.target, row.wrk, row.machine.busy.Seconds(), row.machine.all.Seconds(),
		keys(row.fates), keys(row.drops), row.wrkErrors)
}
