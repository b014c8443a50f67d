package integration

// The open-loop lab benchmark: the copier and the gateway at fixed request
// rates, the way users run them (issue 10), on the plain veth lab. Each
// step sends rate requests per second for a bounded time, half on
// one-request connections and half on 16 keep-alive connections reopened
// every 100 requests, and reports replay success, µs of CPU per request of
// the copier and of the gateway (utime+stime from load start to 3 s after
// its end), and their peak RSS; an idle step gives CPU per 10 s at rest.
// Skipped unless RGW_BENCH=1:
//
//	RGW_BENCH=1 go test ./integration -run '^TestBenchOpenLoop$' -count=1 -v -timeout 10m
//
// Environment:
//
//	RGW_BENCH_RATES   steps as rate:seconds [1000:20,5000:10]
//	RGW_BENCH_NAPI=1  threaded NAPI on the veth links (default: plain veth)
//	RGW_BENCH_PERF=DIR record each step's copier and gateway profiles (perf record -g) in DIR
//	RGW_BENCH_SENDER=l2 the copier sends with AF_PACKET on the online host's interface (default: raw)
//
// The result goes to the test log as a Markdown table (docs/benchmarks.md).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// openStep is one fixed-rate step.
type openStep struct {
	rate    int // requests per second, both halves together
	seconds int
}

// Shape of every step: half the requests on keep-alive connections.
const (
	openKeepAliveConns = 16  // keep-alive connections open at once
	openPerConn        = 100 // requests per keep-alive connection
	openIdle           = 10 * time.Second
	openTail           = 3 * time.Second // CPU counted this long after the load
)

// openRow is what one step measured.
type openRow struct {
	step               openStep
	sent, ok, replayed int
	copier, gw         cpuTime
	cpHWM, gwHWM       int // KiB
	lat                time.Duration
	ringDrops          int // the capture's kernel drops (ring full)
	cpSw, gwSw         int // context switches of the copier and the gateway
}

func openSteps(t *testing.T) []openStep {
	env := os.Getenv("RGW_BENCH_RATES")
	if env == "" {
		return []openStep{{1000, 20}, {5000, 10}}
	}
	var out []openStep
	for _, f := range strings.Split(env, ",") {
		r, s, ok := strings.Cut(strings.TrimSpace(f), ":")
		rate, err1 := strconv.Atoi(r)
		sec, err2 := strconv.Atoi(s)
		if !ok || err1 != nil || err2 != nil || rate <= 0 || sec <= 0 {
			t.Fatalf("RGW_BENCH_RATES: step %q is not rate:seconds", f)
		}
		out = append(out, openStep{min(rate, 20000), min(sec, 60)})
	}
	return out
}

func TestBenchOpenLoop(t *testing.T) {
	bin, steps := openBench(t, "open-loop benchmark")
	r := newCopyRig(t, bin)
	napi := os.Getenv("RGW_BENCH_NAPI") == "1"
	if napi {
		if err := r.Lab.ThreadedNAPI(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Lab.Sysctl(lab.Client, "net.ipv4.ip_local_port_range", "1024 65535"); err != nil {
		t.Fatal(err)
	}
	var conf copierConf
	if s := os.Getenv("RGW_BENCH_SENDER"); s == "l2" {
		conf.Extra = []string{`sender = "l2"`, fmt.Sprintf("send_interface = %q", lab.NewDemoConfig(r.Lab).Interface)}
	} else if s != "" {
		t.Fatalf("RGW_BENCH_SENDER=%q: want l2 (raw is the default)", s)
	}
	r.startCopier(conf, true)
	cp, gw := r.CP.Pid(), r.GW.Pid()
	cpu := func(pid int) cpuTime { return mustCPU(t, pid) }
	mem := func(pid int) procMem {
		m, err := readProcMem(pid)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	time.Sleep(2 * time.Second) // let start-up settle
	c0, g0 := cpu(cp), cpu(gw)
	cs0, gs0 := mustSwitches(t, cp), mustSwitches(t, gw)
	time.Sleep(openIdle)
	idleCP, idleGW := cpu(cp).sub(c0), cpu(gw).sub(g0)
	perSec := func(n int) float64 { return float64(n) / openIdle.Seconds() }
	cpIdleSw, gwIdleSw := perSec(mustSwitches(t, cp)-cs0), perSec(mustSwitches(t, gw)-gs0)
	cpIdle, gwIdle := mem(cp), mem(gw)
	t.Logf("idle %v: CPU copier %v, gateway %v; context switches per second copier %.1f, gateway %.1f; copier %v; gateway %v",
		openIdle, idleCP, idleGW, cpIdleSw, gwIdleSw, cpIdle, gwIdle)
	if top, err := smapsTop(cp, 6); err == nil {
		t.Logf("copier's largest mappings at idle (RSS):\n%s", top)
	}

	var rows []openRow
	for i, st := range steps {
		prefix := fmt.Sprintf("o%d", i)
		row := openRow{step: st}
		perf := startPerf(t, i, st, cp, gw)
		m0, gm0 := r.copierMetrics(), r.gatewayMetrics()
		c0, g0 := cpu(cp), cpu(gw)
		cs0, gs0 := mustSwitches(t, cp), mustSwitches(t, gw)
		res := openLoad(t, r.Lab, r.Lab.Addr(lab.Online).String()+":80", prefix, st)
		time.Sleep(openTail)
		row.copier, row.gw = cpu(cp).sub(c0), cpu(gw).sub(g0)
		row.cpSw, row.gwSw = mustSwitches(t, cp)-cs0, mustSwitches(t, gw)-gs0
		for _, p := range perf {
			_ = p.Wait()
		}
		row.sent = st.rate * st.seconds
		ids := make(map[string]struct{}, len(res.OK))
		for _, id := range res.OK {
			ids[id] = struct{}{}
		}
		row.ok = len(ids)
		row.replayed = waitSeen(r.Target, res.OK, 15*time.Second)
		row.cpHWM, row.gwHWM = mem(cp).hwm, mem(gw).hwm
		row.lat = lab.Percentile(res.Latencies, 99)
		m1 := r.copierMetrics()
		drops, _ := metric(m1, "capture_kernel_drops")
		drops0, _ := metric(m0, "capture_kernel_drops")
		row.ringDrops = int(drops - drops0)
		t.Logf("step %d: copier counters that moved: %s", i, movedCounters(m0, m1))
		t.Logf("step %d: gateway counters that moved: %s", i, movedCounters(gm0, r.gatewayMetrics()))
		t.Logf("step %d: copier Go memory at its end: %s", i, goMemory(m1))
		t.Logf("step %d: %d req/s for %d s: sent %d, answered %d (failed %d, not sent %d), replayed %d (%.3f%%); capture ring drops %d; CPU copier %v, gateway %v; p99 %v; errors %v",
			i, st.rate, st.seconds, row.sent, row.ok, res.Failed, res.NotSent, row.replayed,
			lab.Percent(row.replayed, row.ok), row.ringDrops, row.copier, row.gw, row.lat, res.Errors)
		rows = append(rows, row)
		r.copierAlive()
	}
	t.Logf("open-loop benchmark (plain veth %v, %d keep-alive connections of %d requests + short connections, half each):\n%s",
		!napi, openKeepAliveConns, openPerConn, openTable(rows, idleCP, idleGW, cpIdle, gwIdle))
}

// openLoad runs one step: the short and the keep-alive halves at once,
// each at half the rate, bounded by the step's length plus 5 s.
func openLoad(t *testing.T, l *lab.Lab, addr, prefix string, st openStep) *lab.LoadResult {
	t.Helper()
	n := st.rate * st.seconds
	half := float64(st.rate) / 2
	bound := time.Duration(st.seconds)*time.Second + 5*time.Second
	opts := []lab.LoadOptions{
		{Addr: addr, Short: n / 2, Rate: half, Concurrency: 64, Duration: bound, IDPrefix: prefix + "s"},
		{Addr: addr, KeepAlive: n / 2 / openPerConn, PerConn: openPerConn, Rate: half,
			Concurrency: openKeepAliveConns, Duration: bound, IDPrefix: prefix + "k"},
	}
	out := make([]*lab.LoadResult, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = l.Load(context.Background(), lab.Client, opts[i])
		}()
	}
	wg.Wait()
	all := &lab.LoadResult{}
	for i, res := range out {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		all.OK = append(all.OK, res.OK...)
		all.Latencies = append(all.Latencies, res.Latencies...)
		all.Failed += res.Failed
		all.NotSent += res.NotSent
		all.Errors = append(all.Errors, res.Errors...)
	}
	return all
}

// movedCounters lists the copier's drop, error, retransmit and fate
// counters that changed between two scrapes.
func movedCounters(before, after map[string]float64) string {
	var out []string
	for k, v := range after {
		if d := v - before[k]; d != 0 && (strings.Contains(k, "drop") || strings.Contains(k, "error") ||
			strings.Contains(k, "retransmit") || strings.Contains(k, "sessions") || strings.Contains(k, "_total")) {
			out = append(out, fmt.Sprintf("%s=%.0f", strings.TrimPrefix(k, "replaygw_"), d))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// goMemory lists the copier's Go runtime memory gauges, in MB.
func goMemory(m map[string]float64) string {
	var out []string
	for _, k := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_next_gc_bytes", "go_memstats_sys_bytes"} {
		if v, ok := m[k]; ok {
			out = append(out, fmt.Sprintf("%s=%.1f", strings.TrimSuffix(strings.TrimPrefix(k, "go_memstats_"), "_bytes"), v/1e6))
		}
	}
	return strings.Join(out, " ")
}

// startPerf records the copier's and the gateway's profiles during a step
// when RGW_BENCH_PERF names a directory.
func startPerf(t *testing.T, i int, st openStep, pids ...int) []*exec.Cmd {
	dir := os.Getenv("RGW_BENCH_PERF")
	if dir == "" {
		return nil
	}
	var out []*exec.Cmd
	for j, pid := range pids {
		role := [...]string{"copier", "gateway"}[j]
		p := exec.Command("perf", "record", "-F", "2999", "-g", "-p", strconv.Itoa(pid),
			"-o", filepath.Join(dir, fmt.Sprintf("open%d-%d-%s.data", i, st.rate, role)),
			"--", "sleep", strconv.Itoa(st.seconds+int(openTail/time.Second)))
		if err := p.Start(); err != nil {
			t.Fatalf("perf: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// procMem is a process's memory from /proc/<pid>/status, in KiB.
type procMem struct{ rss, hwm, anon, file, shmem int }

func (m procMem) String() string {
	return fmt.Sprintf("RSS %.1f MB (anon %.1f, file %.1f, shmem %.1f), peak %.1f MB",
		mb(m.rss), mb(m.anon), mb(m.file), mb(m.shmem), mb(m.hwm))
}

func mb(kib int) float64 { return float64(kib) / 1024 }

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMem{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	var m procMem
	fields := map[string]*int{"VmRSS:": &m.rss, "VmHWM:": &m.hwm, "RssAnon:": &m.anon, "RssFile:": &m.file, "RssShmem:": &m.shmem}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			if p, ok := fields[f[0]]; ok {
				if *p, err = strconv.Atoi(f[1]); err != nil {
					return procMem{}, fmt.Errorf("memory of %d: %q: %w", pid, line, err)
				}
			}
		}
	}
	return m, nil
}

// smapsTop lists the n mappings of pid with the most resident memory.
func smapsTop(pid, n int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps")
	if err != nil {
		return "", err
	}
	type mapping struct {
		name string
		rss  int
	}
	var all []mapping
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			name := "[anon]"
			if len(f) >= 6 {
				name = strings.Join(f[5:], " ")
			}
			all = append(all, mapping{name: f[0] + " " + name})
		case len(f) >= 2 && f[0] == "Rss:" && len(all) > 0:
			all[len(all)-1].rss, _ = strconv.Atoi(f[1])
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].rss > all[j].rss })
	var s strings.Builder
	for _, m := range all[:min(n, len(all))] {
		fmt.Fprintf(&s, "  %8d KiB  %s\n", m.rss, m.name)
	}
	return s.String(), nil
}

// perReq is n per request, to two decimals.
func perReq(n, reqs int) string {
	if reqs == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(n)/float64(reqs))
}

// openTable renders the steps as a Markdown table.
func openTable(rows []openRow, idleCP, idleGW cpuTime, cpIdle, gwIdle procMem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "idle per 10 s: copier %.2f s CPU, RSS %.1f MB; gateway %.2f s CPU, RSS %.1f MB\n\n",
		idleCP.total().Seconds()*float64(10*time.Second)/float64(openIdle), mb(cpIdle.rss),
		idleGW.total().Seconds()*float64(10*time.Second)/float64(openIdle), mb(gwIdle.rss))
	b.WriteString("| step | answered online | replayed | success | copier CPU (user+sys) | copier µs/req | gateway CPU | gateway µs/req | copier peak RSS | gateway peak RSS | ring drops | client p99 | copier switches/req | gateway switches/req |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		per := func(c cpuTime) float64 {
			if row.ok == 0 {
				return 0
			}
			return float64(c.total().Microseconds()) / float64(row.ok)
		}
		fmt.Fprintf(&b, "| %d req/s × %d s | %d of %d | %d | %.3f%% | %v | %.0f | %v | %.0f | %.1f MB | %.1f MB | %d | %v | %s | %s |\n",
			row.step.rate, row.step.seconds, row.ok, row.sent, row.replayed, lab.Percent(row.replayed, row.ok),
			row.copier, per(row.copier), row.gw, per(row.gw), mb(row.cpHWM), mb(row.gwHWM), row.ringDrops, row.lat.Round(10*time.Microsecond),
			perReq(row.cpSw, row.ok), perReq(row.gwSw, row.ok))
	}
	return b.String()
}
