package integration

// The end-to-end lab benchmark (`make bench`): replay success and CPU time
// of the copier against the online server it copies, at rising rates, for
// short connections from one client address and for keep-alive
// connections. Skipped unless RGW_BENCH=1:
//
//	RGW_BENCH=1 go test ./integration -run '^TestBenchLab$' -count=1 -v -timeout 15m
//
// RGW_BENCH_RATES overrides the short-connection rates (comma-separated
// new connections per second). Results go to the test log as a Markdown
// table (see docs/benchmarks.md).

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
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is a process' CPU time split into user and system.
type cpuTime struct{ user, sys time.Duration }

func (c cpuTime) sub(o cpuTime) cpuTime { return cpuTime{c.user - o.user, c.sys - o.sys} }
func (c cpuTime) total() time.Duration  { return c.user + c.sys }
func (c cpuTime) String() string {
	return fmt.Sprintf("%.2fs (%.2f+%.2f)", c.total().Seconds(), c.user.Seconds(), c.sys.Seconds())
}

// procCPU returns the user and system CPU time of process pid (all
// threads; 0 = this process).
func procCPU(pid int) (cpuTime, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuTime{}, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTime{}, fmt.Errorf("cpu of %d: bad stat %q", pid, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime is field 14
	if len(f) < 13 {
		return cpuTime{}, fmt.Errorf("cpu of %d: short stat %q", pid, s)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTime{}, fmt.Errorf("cpu of %d: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return cpuTime{time.Duration(u) * clockTick, time.Duration(st) * clockTick}, nil
}

// benchStep is one load level of the lab benchmark.
type benchStep struct {
	shape string // "short" or "keep-alive"
	rate  float64
	lo    LoadOptions
}

// benchRow is what one step measured.
type benchRow struct {
	step                      benchStep
	sent, replayed            int
	achieved                  float64 // requests (short: connections) per second answered online
	copier, online, gw, tproc cpuTime
	fates                     map[string]float64 // non-zero deltas
	drops                     map[string]float64 // non-zero deltas of drop/error counters
}

func benchRates(def []float64) []float64 {
	env := os.Getenv("RGW_BENCH_RATES")
	if env == "" {
		return def
	}
	var out []float64
	for _, f := range strings.Split(env, ",") {
		if v, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	return out
}

func TestBenchLab(t *testing.T) {
	if os.Getenv("RGW_BENCH") == "" {
		t.Skip("lab benchmark: set RGW_BENCH=1 to run it (see docs/benchmarks.md)")
	}
	bin := needBinary(t, "up", "copy")
	dir := t.TempDir()
	srvBin := filepath.Join(dir, "onlinesrv")
	if out, err := exec.Command("go", "build", "-o", srvBin, "./testdata/onlinesrv").CombinedOutput(); err != nil {
		t.Fatalf("build online server: %v\n%s", err, out)
	}
	r := newCopyRig(t, bin)
	// The online server runs as its own process so that its CPU time can
	// be read like the copier's.
	r.online.Close()
	srvLog, err := os.Create(filepath.Join(dir, "onlinesrv.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer srvLog.Close()
	srv, err := r.lab.Start(Online, srvLog, srvBin, "-listen", ":80")
	if err != nil {
		t.Fatal(err)
	}
	addr := r.lab.Addr(Online).String() + ":80"
	waitFor(t, 10*time.Second, func() bool {
		res, err := r.lab.Load(context.Background(), Client, LoadOptions{Addr: addr, Short: 1, Duration: time.Second})
		return err == nil && len(res.OK) == 1
	})
	r.startCopier(copierConf{}, true)

	// Idle: what the roles cost with no traffic at all.
	idle0 := benchCPU(t, r, srv)
	time.Sleep(3 * time.Second)
	idle1 := benchCPU(t, r, srv)
	t.Logf("idle for 3s: CPU (user+sys) copier %v, online server %v, gateway %v, test process %v",
		idle1[0].sub(idle0[0]), idle1[1].sub(idle0[1]), idle1[2].sub(idle0[2]), idle1[3].sub(idle0[3]))
	var steps []benchStep
	for _, rate := range benchRates([]float64{1000, 2500, 5000, 10000}) {
		n := min(int(rate*2), 10000) // 2 s of load, at most 10,000 connections per step
		steps = append(steps, benchStep{"short", rate, LoadOptions{Short: n, Concurrency: 64}})
	}
	for _, rate := range []float64{2500, 5000, 10000, 20000} {
		const conns = 64
		n := min(int(rate*2), 20000)
		steps = append(steps, benchStep{"keep-alive", rate, LoadOptions{KeepAlive: conns, PerConn: n / conns, Concurrency: conns}})
	}
	var rows []benchRow
	for i, st := range steps {
		lo := st.lo
		lo.Addr, lo.Rate, lo.Duration, lo.Timeout = addr, st.rate, 30*time.Second, 5*time.Second
		lo.IDPrefix = fmt.Sprintf("b%d", i)
		before := r.copierMetrics()
		cpu0 := benchCPU(t, r, srv)
		res, err := r.lab.Load(context.Background(), Client, lo)
		if err != nil {
			t.Fatal(err)
		}
		row := benchRow{step: st, sent: len(res.OK)}
		row.replayed = waitSeen(r.target, res.OK, 10*time.Second)
		time.Sleep(time.Second) // let the last sessions end and count their fates
		cpu1 := benchCPU(t, r, srv)
		after := r.copierMetrics()
		row.copier, row.online, row.gw, row.tproc = cpu1[0].sub(cpu0[0]), cpu1[1].sub(cpu0[1]), cpu1[2].sub(cpu0[2]), cpu1[3].sub(cpu0[3])
		row.achieved = float64(len(res.OK)) / res.Elapsed.Seconds()
		row.fates = make(map[string]float64)
		fb, fa := fates(before), fates(after)
		for k, v := range fa {
			if d := v - fb[k]; d != 0 {
				row.fates[k] = d
			}
		}
		row.drops = make(map[string]float64)
		for k, v := range after {
			if (strings.Contains(k, "drop") || strings.Contains(k, "error") || strings.Contains(k, "retransmit")) && v != before[k] {
				row.drops[strings.TrimPrefix(k, "replaygw_")] = v - before[k]
			}
		}
		if res.Failed > 0 || res.NotSent > 0 {
			t.Logf("step %d: load: %d failed, %d not sent: %v", i, res.Failed, res.NotSent, res.Errors)
		}
		t.Logf("step %d %s %.0f/s: %s", i, st.shape, st.rate, row.line())
		rows = append(rows, row)
		r.copierAlive()
	}
	var b strings.Builder
	b.WriteString("| shape | offered /s | answered online | achieved /s | replayed | success | copier CPU (user+sys) | online server CPU | gateway CPU | test process CPU | copier/online total | copier/online user |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		ratio := "-"
		if row.online.total() > 0 {
			ratio = fmt.Sprintf("%.2f", row.copier.total().Seconds()/row.online.total().Seconds())
		}
		uratio := "-"
		if row.online.user > 0 {
			uratio = fmt.Sprintf("%.2f", row.copier.user.Seconds()/row.online.user.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %.0f | %d | %.0f | %d | %.3f%% | %v | %v | %v | %v | %s | %s |\n",
			row.step.shape, row.step.rate, row.sent, row.achieved, row.replayed, percent(row.replayed, row.sent),
			row.copier, row.online, row.gw, row.tproc, ratio, uratio)
	}
	t.Logf("lab benchmark (copier workers = CPUs; one client address; %d CPUs):\n%s", runtime.NumCPU(), b.String())
	for _, row := range rows {
		if row.step.shape == "short" && percent(row.replayed, row.sent) < 99.9 {
			t.Logf("goal not met: short connections at %.0f/s offered (%.0f/s achieved): %.3f%% replayed; fates %v; drops %v",
				row.step.rate, row.achieved, percent(row.replayed, row.sent), row.fates, row.drops)
		}
	}
	if os.Getenv("RGW_BENCH_STRICT") != "" {
		last := rows[len(benchRates([]float64{1000, 2500, 5000, 10000}))-1]
		if p := percent(last.replayed, last.sent); p < 99.9 {
			t.Errorf("short connections at the highest rate: %.3f%% replayed < 99.9%%", p)
		}
	}
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
	return fmt.Sprintf("answered %d (%.0f/s), replayed %d (%.3f%%); CPU (user+sys) copier %v, online %v, gateway %v, test process %v; fates [%s]; drops/errors [%s]",
		row.sent, row.achieved, row.replayed, percent(row.replayed, row.sent),
		row.copier, row.online, row.gw, row.tproc, keys(row.fates), keys(row.drops))
}

// benchCPU reads the CPU time of the copier, the online server, the
// gateway and this test process (load generator and target server).
func benchCPU(t *testing.T, r *copyRig, srv *Proc) [4]cpuTime {
	t.Helper()
	var out [4]cpuTime
	for i, pid := range []int{r.cp.Pid(), srv.Pid(), r.gw.Pid(), 0} {
		d, err := procCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}
