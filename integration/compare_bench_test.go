package integration

// The compare benchmark (issue 13): the copier's CPU per request with
// [compare] on against off, at the open-loop benchmark's fixed rates
// (RGW_BENCH_RATES, default 1000:20,5000:10) and load shape, and the
// gateway's CPU per compared request. Three copier set-ups, each on a
// fresh lab: protocol "tcp" (the default, nothing compared), protocol
// "http" without [compare] (the protocol's framing alone) and "http" with
// [compare] (capture of production's responses, exchanges with payloads
// to the gateway, which diffs and stores them). Skipped unless
// RGW_BENCH=1:
//
//	RGW_BENCH=1 go test ./integration -run '^TestBenchCompare$' -count=1 -v -timeout 15m
//
// The result goes to the test log as a Markdown table (docs/benchmarks.md).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// cmpBenchMode is one copier set-up.
type cmpBenchMode struct {
	name    string
	proto   string
	compare bool
}

// cmpBenchRow is what one step of one mode measured.
type cmpBenchRow struct {
	mode             string
	step             openStep
	ok, replayed     int
	compared         int // exchanges the gateway compared during the step
	copier, gw       cpuTime
	copierUs, gwUs   float64 // per answered request
	gwPerComparedUs  float64
	exchangesDropped int
}

// openBench skips benchmark what unless RGW_BENCH is set and returns the
// binary and the open-loop steps.
func openBench(t *testing.T, what string) (bin string, steps []openStep) {
	t.Helper()
	if os.Getenv("RGW_BENCH") == "" {
		t.Skip(what + ": set RGW_BENCH=1 to run it (see docs/benchmarks.md)")
	}
	return needBinary(t, "up", "copy"), openSteps(t)
}

// mustCPU is procCPU failing t.
func mustCPU(t *testing.T, pid int) cpuTime {
	t.Helper()
	c, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBenchCompare(t *testing.T) {
	bin, steps := openBench(t, "compare benchmark")
	modes := []cmpBenchMode{{"tcp", "", false}, {"http", "http", false}, {"http + compare", "http", true}}
	var rows []cmpBenchRow
	for _, m := range modes {
		t.Run(strings.ReplaceAll(m.name, " ", ""), func(t *testing.T) {
			rows = append(rows, benchCompareMode(t, bin, m, steps)...)
		})
	}
	t.Logf("compare benchmark (plain veth, %d keep-alive connections of %d requests + short connections, half each):\n%s",
		openKeepAliveConns, openPerConn, cmpBenchTable(rows))
}

// benchCompareMode runs every step on a fresh lab with mode's copier.
func benchCompareMode(t *testing.T, bin string, m cmpBenchMode, steps []openStep) []cmpBenchRow {
	r := newRigLab(t, bin)
	if err := r.Lab.Sysctl(lab.Client, "net.ipv4.ip_local_port_range", "1024 65535"); err != nil {
		t.Fatal(err)
	}
	cc := copierConf{Protocols: []string{m.proto}}
	section := ""
	if m.compare {
		section = compareSection(filepath.Join(t.TempDir(), "compare"))
		cc.Sections = []string{section}
	}
	startGatewayWith(r, section)
	r.startCopier(cc, true)
	cp, gw := r.CP.Pid(), r.GW.Pid()
	cpu := func(pid int) cpuTime { return mustCPU(t, pid) }
	time.Sleep(2 * time.Second) // let start-up settle
	var rows []cmpBenchRow
	for i, st := range steps {
		row := cmpBenchRow{mode: m.name, step: st}
		g0 := r.gatewayMetrics()
		c0, gc0 := cpu(cp), cpu(gw)
		res := openLoad(t, r.Lab, r.Lab.Addr(lab.Online).String()+":80", fmt.Sprintf("m%d", i), st)
		time.Sleep(openTail)
		row.copier, row.gw = cpu(cp).sub(c0), cpu(gw).sub(gc0)
		row.ok = len(res.OK)
		row.replayed = waitSeen(r.Target, res.OK, 15*time.Second)
		g1 := r.gatewayMetrics()
		delta := func(parts ...string) int {
			a, _ := metric(g1, parts...)
			b, _ := metric(g0, parts...)
			return int(a - b)
		}
		row.compared = delta("replaygw_compare_exchanges_total")
		row.exchangesDropped = delta("replaygw_compare_exchanges_dropped_total", "queue_full") +
			delta("replaygw_compare_exchanges_dropped_total", "store_full")
		if row.ok > 0 {
			row.copierUs = float64(row.copier.total().Microseconds()) / float64(row.ok)
			row.gwUs = float64(row.gw.total().Microseconds()) / float64(row.ok)
		}
		if row.compared > 0 {
			row.gwPerComparedUs = float64(row.gw.total().Microseconds()) / float64(row.compared)
		}
		t.Logf("%s, %d req/s for %d s: answered %d, replayed %d, compared %d (dropped %d); CPU copier %v = %.0f µs/req, gateway %v = %.0f µs/req; gateway compare counters: %s",
			m.name, st.rate, st.seconds, row.ok, row.replayed, row.compared, row.exchangesDropped,
			row.copier, row.copierUs, row.gw, row.gwUs, compareCounters(g1))
		rows = append(rows, row)
		r.copierAlive()
	}
	return rows
}

// cmpBenchTable renders the rows and the on/off ratios as Markdown.
func cmpBenchTable(rows []cmpBenchRow) string {
	var b strings.Builder
	b.WriteString("| copier | step | answered | replayed | compared | copier CPU | copier µs/req | gateway CPU | gateway µs/req | gateway µs/compared |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	base := map[string]map[int]cmpBenchRow{} // mode -> rate -> row
	for _, r := range rows {
		if base[r.mode] == nil {
			base[r.mode] = map[int]cmpBenchRow{}
		}
		base[r.mode][r.step.rate] = r
		per := "-"
		if r.compared > 0 {
			per = fmt.Sprintf("%.0f", r.gwPerComparedUs)
		}
		fmt.Fprintf(&b, "| %s | %d req/s × %d s | %d | %d (%.3f%%) | %d | %v | %.0f | %v | %.0f | %s |\n",
			r.mode, r.step.rate, r.step.seconds, r.ok, r.replayed, lab.Percent(r.replayed, r.ok), r.compared,
			r.copier, r.copierUs, r.gw, r.gwUs, per)
	}
	b.WriteString("\n")
	for _, r := range rows {
		if r.mode != "http + compare" {
			continue
		}
		off, tcp := base["http"][r.step.rate], base["tcp"][r.step.rate]
		extra := 0.0
		if r.compared > 0 {
			extra = float64((r.gw.total() - off.gw.total()).Microseconds()) / float64(r.compared)
		}
		fmt.Fprintf(&b, "%d req/s: copier CPU per request, compare on / off: %.2fx against http, %.2fx against tcp (goal <= 1.5x); gateway CPU the comparison adds: %.0f µs per compared request\n",
			r.step.rate, r.copierUs/off.copierUs, r.copierUs/tcp.copierUs, extra)
	}
	return b.String()
}
