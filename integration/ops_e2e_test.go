package integration

// End-to-end tests of the operator surface through the real binary (issue
// 5): `replaygw doctor` on a healthy and a broken lab, the metrics of both
// roles against a known load, `replaygw status`, the session ledger and the
// capabilities the daemons keep.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/doctor"
	"github.com/replaygw/replaygw/lab"
	"github.com/replaygw/replaygw/ledger"
)

// opsPrefix is the namespace prefix of these tests.
const opsPrefix = "rgP"

// opsTUN is a TUN name unique to this test process. The gateway keeps its
// state file in /run/replaygw/<tun>.json, shared by every network
// namespace, so a fixed name would clash with other gateways running at the
// same time in other labs.
func opsTUN(seq int) string { return fmt.Sprintf("rgP%d_%d", os.Getpid()%1000000, seq) }

// newOpsLab builds a lab with the rgP prefix, removed at the end of the
// test (and checked gone).
func newOpsLab(t *testing.T) *lab.Lab {
	t.Helper()
	return lab.NewTestLab(t, lab.LabOptions{Prefix: opsPrefix, Logger: lab.Logger(t)})
}

// opsConfig is a lab's demo config with a unique TUN, written to dir.
type opsConfig struct {
	lab.DemoConfig
	dir            string
	gwPath, cpPath string
}

var opsSeq struct {
	sync.Mutex
	n int
}

func newOpsConfig(t *testing.T, l *lab.Lab, dir string) *opsConfig {
	t.Helper()
	opsSeq.Lock()
	opsSeq.n++
	n := opsSeq.n
	opsSeq.Unlock()
	c := &opsConfig{DemoConfig: lab.NewDemoConfig(l), dir: dir}
	c.TUN = opsTUN(n)
	c.gwPath = filepath.Join(dir, "gateway.toml")
	c.cpPath = filepath.Join(dir, "copier.toml")
	c.write(t, "")
	// A test that failed between a SIGKILL and `down` must not leave the
	// gateway's state file behind (its namespace is gone anyway).
	t.Cleanup(func() {
		m, _ := filepath.Glob(filepath.Join("/run/replaygw", c.TUN+".*json"))
		for _, f := range m {
			os.Remove(f)
		}
	})
	return c
}

// write (re)writes both files; ledger, when set, is added to [copy].
func (c *opsConfig) write(t *testing.T, ledgerPath string) {
	t.Helper()
	cp := c.CopierTOML()
	if ledgerPath != "" {
		cp = strings.Replace(cp, "[[copy.route]]", fmt.Sprintf("ledger = %q\n\n[[copy.route]]", ledgerPath), 1)
	}
	for _, f := range []struct{ path, text string }{{c.gwPath, c.GatewayTOML()}, {c.cpPath, cp}} {
		if err := os.WriteFile(f.path, []byte(f.text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// writeVariant writes a copy of the copier config with edit applied and
// returns its path.
func (c *opsConfig) writeVariant(t *testing.T, name string, edit func(lab.DemoConfig) lab.DemoConfig) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(edit(c.DemoConfig).CopierTOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// child is a running role with its log.
type child struct {
	*lab.Proc
	log string
}

// startRole starts `replaygw <args>` in h and waits until its /metrics
// answers inside h.
func startRole(t *testing.T, l *lab.Lab, h lab.Host, bin string, args ...string) *child {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), string(h)+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Start(h, f, append([]string{bin}, args...)...)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	c := &child{Proc: p, log: f.Name()}
	t.Cleanup(func() {
		c.Stop(5 * time.Second)
		f.Close()
		if t.Failed() {
			t.Logf("%s %v log:\n%s", h, args, lab.LogTail(f.Name(), 40))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.Done():
			t.Fatalf("replaygw %v in %s exited: %v\n%s", args, h, p.Err(), lab.LogTail(f.Name(), 20))
		default:
		}
		if _, err := scrapeMetrics(l, h); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("replaygw %v in %s: /metrics not ready in 15s\n%s", args, h, lab.LogTail(f.Name(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive fails the test if the child exited.
func (c *child) alive(t *testing.T) {
	t.Helper()
	select {
	case <-c.Done():
		t.Fatalf("child exited: %v\n%s", c.Err(), lab.LogTail(c.log, 20))
	default:
	}
}

// runDoctor runs `replaygw doctor --config path --json` in h and returns
// the checks and the exit status.
func runDoctor(t *testing.T, l *lab.Lab, h lab.Host, bin, path string) ([]doctor.Check, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := l.ExecContext(ctx, h, bin, "doctor", "--config", path, "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("doctor in %s: %v", h, err)
	}
	var checks []doctor.Check
	if err := json.Unmarshal(out, &checks); err != nil {
		t.Fatalf("doctor in %s (exit %d): output is not JSON: %v\n%s\nstderr: %s", h, code, err, out, stderr.String())
	}
	return checks, code
}

// findCheck returns the check whose name starts with prefix, failing the
// test when there is none.
func findCheck(t *testing.T, checks []doctor.Check, prefix string) doctor.Check {
	t.Helper()
	c, ok := doctor.Find(checks, prefix)
	if !ok {
		t.Fatalf("no check %q in %s", prefix, fmtChecks(checks))
	}
	t.Logf("%s  %s: %s\n  fix: %s", c.Status, c.Name, c.Detail, strings.ReplaceAll(c.Fix, "\n", "\n       "))
	return c
}

func fmtChecks(checks []doctor.Check) string {
	var b bytes.Buffer
	doctor.Print(&b, checks)
	return b.String()
}

// scrapeMetrics reads /metrics of the role in h (inside its namespace) as
// a map from "name{labels}" to value.
func scrapeMetrics(l *lab.Lab, h lab.Host) (map[string]float64, error) {
	d, err := l.Dialer(h)
	if err != nil {
		return nil, err
	}
	resp, err := d.HTTPClient(3 * time.Second).Get("http://" + lab.DemoMetricsListen + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics in %s: %s", h, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format (no timestamps).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics: bad line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: bad value in %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// capEff reads the effective capability mask of pid.
func capEff(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no CapEff in /proc/%d/status", pid)
	return 0
}

// threadCaps describes pid's program and each thread's CapEff, for
// failure messages.
func threadCaps(pid int) string {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d (%s):", pid, strings.TrimSpace(string(comm)))
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		for line := range strings.Lines(string(st)) {
			if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
				fmt.Fprintf(&b, " %s=%s", task.Name(), strings.TrimSpace(v))
			}
		}
	}
	return b.String()
}

// TestDoctorHealthyLab: with the gateway up and the target listening,
// doctor passes on both hosts and the probe goes through the gateway.
func TestDoctorHealthyLab(t *testing.T) {
	bin := needBinary(t, "up", "doctor")
	l := newOpsLab(t)
	cfg := newOpsConfig(t, l, t.TempDir())
	listenID(t, l, lab.Target)
	startRole(t, l, lab.Assistant, bin, "up", "--config", cfg.gwPath)

	for _, tc := range []struct {
		h    lab.Host
		path string
	}{{lab.Assistant, cfg.gwPath}, {lab.Online, cfg.cpPath}} {
		checks, code := runDoctor(t, l, tc.h, bin, tc.path)
		t.Logf("doctor in %s (exit %d):\n%s", tc.h, code, fmtChecks(checks))
		if code != 0 {
			t.Errorf("doctor in %s exited %d", tc.h, code)
		}
		for _, c := range checks {
			switch c.Status {
			case doctor.Pass:
			case doctor.Warn:
				if !healthyWarn(c) {
					t.Errorf("doctor in %s: unexpected WARN %s: %s", tc.h, c.Name, c.Detail)
				}
			default:
				t.Errorf("doctor in %s: %s %s: %s (fix: %s)", tc.h, c.Status, c.Name, c.Detail, c.Fix)
			}
		}
	}
	checks, _ := runDoctor(t, l, lab.Online, bin, cfg.cpPath)
	if p := findCheck(t, checks, "probe "+cfg.To.String()); p.Status != doctor.Pass || !strings.Contains(p.Detail, "SYN-ACK") {
		t.Errorf("probe: %s %s", p.Status, p.Detail)
	}
}

// healthyWarn lists the warnings a healthy lab may show, each justified:
//   - conntrack: the lab namespaces share the host's nf_conntrack table
//     size, which a check may find small for production traffic; it says
//     nothing about the lab's correctness.
func healthyWarn(c doctor.Check) bool {
	return strings.HasPrefix(c.Name, "conntrack")
}

// listenID serves an IDServer on :80 of h until the test ends.
func listenID(t *testing.T, l *lab.Lab, h lab.Host) *lab.IDServer {
	t.Helper()
	ln, err := l.Listen(h, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	s := lab.NewIDServer(&lab.RemoteListener{Listener: ln}, lab.IDServerOptions{Logger: lab.Logger(t)})
	t.Cleanup(func() { s.Close() })
	return s
}

// TestDoctorPlantedFaults breaks one thing at a time with the real gateway
// running and checks the CLI doctor's JSON verdict, fix and exit status.
func TestDoctorPlantedFaults(t *testing.T) {
	bin := needBinary(t, "up", "doctor")
	l := newOpsLab(t)
	cfg := newOpsConfig(t, l, t.TempDir())
	listenID(t, l, lab.Target)
	gw := startRole(t, l, lab.Assistant, bin, "up", "--config", cfg.gwPath)
	probe := "probe " + cfg.To.String()
	gwCheck := "gateway " + cfg.Gateway

	t.Run("wrong token", func(t *testing.T) {
		bad := cfg.writeVariant(t, "badtoken.toml", func(c lab.DemoConfig) lab.DemoConfig { c.Token = "not-the-token"; return c })
		checks, code := runDoctor(t, l, lab.Online, bin, bad)
		c := findCheck(t, checks, gwCheck)
		if code != 1 || c.Status != doctor.Fail || !strings.Contains(c.Detail+c.Fix, "token") {
			t.Errorf("exit %d, %s %s: %s (fix: %s)", code, c.Status, c.Name, c.Detail, c.Fix)
		}
	})
	t.Run("strict rp_filter", func(t *testing.T) {
		key := "net.ipv4.conf." + lab.Iface + ".rp_filter"
		if err := l.Sysctl(lab.Online, key, "1"); err != nil {
			t.Fatal(err)
		}
		defer l.Sysctl(lab.Online, key, "0")
		checks, _ := runDoctor(t, l, lab.Online, bin, cfg.cpPath)
		c := findCheck(t, checks, "rp_filter "+lab.Iface)
		if c.Status == doctor.Pass || !strings.Contains(c.Fix, "sysctl") || !strings.Contains(c.Fix, "rp_filter") {
			t.Errorf("%s %s: %s (fix: %s)", c.Status, c.Name, c.Detail, c.Fix)
		}
	})
	t.Run("no route on the target", func(t *testing.T) {
		route := []string{l.Pool.String(), "via", l.Addr(lab.Assistant).String(), "dev", lab.Iface}
		if out, err := l.Exec(lab.Target, append([]string{"ip", "route", "del"}, route...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		defer l.Exec(lab.Target, append([]string{"ip", "route", "add"}, route...)...).Run()
		checks, code := runDoctor(t, l, lab.Online, bin, cfg.cpPath)
		c := findCheck(t, checks, probe)
		want := fmt.Sprintf("ip route add %s via %s", l.Pool, l.Addr(lab.Assistant))
		if code != 1 || c.Status != doctor.Fail || !strings.Contains(c.Fix, want) {
			t.Errorf("exit %d, %s %s: %s\nfix: %s\nwant the fix to contain %q", code, c.Status, c.Name, c.Detail, c.Fix, want)
		}
	})
	t.Run("forwarding leak", func(t *testing.T) {
		if err := l.Sysctl(lab.Assistant, "net.ipv4.ip_forward", "1"); err != nil {
			t.Fatal(err)
		}
		defer l.Sysctl(lab.Assistant, "net.ipv4.ip_forward", "0")
		if out, err := l.Exec(lab.Assistant, "tc", "filter", "del", "dev", lab.Iface, "ingress").CombinedOutput(); err != nil {
			t.Fatalf("remove the redirect: %v: %s", err, out)
		}
		checks, code := runDoctor(t, l, lab.Assistant, bin, cfg.gwPath)
		c := findCheck(t, checks, "leak")
		if code != 1 || c.Status != doctor.Fail || !strings.Contains(c.Fix, "sysctl -w") {
			t.Errorf("exit %d, %s %s: %s (fix: %s)\n%s", code, c.Status, c.Name, c.Detail, c.Fix, fmtChecks(checks))
		}
	})
	t.Run("gateway stopped", func(t *testing.T) {
		if err := gw.Stop(5 * time.Second); err != nil {
			t.Fatalf("gateway stop: %v", err)
		}
		checks, code := runDoctor(t, l, lab.Online, bin, cfg.cpPath)
		c := findCheck(t, checks, gwCheck)
		if code != 1 || c.Status != doctor.Fail {
			t.Errorf("exit %d, %s %s: %s (fix: %s)", code, c.Status, c.Name, c.Detail, c.Fix)
		}
		checks, code = runDoctor(t, l, lab.Assistant, bin, cfg.gwPath)
		c = findCheck(t, checks, "tun "+cfg.TUN)
		if code != 1 || c.Status != doctor.Fail || !strings.Contains(c.Fix, "replaygw up") {
			t.Errorf("gateway doctor: exit %d, %s %s: %s (fix: %s)", code, c.Status, c.Name, c.Detail, c.Fix)
		}
	})
}

// opsRig is a lab with the real gateway and copier running, the target's
// IDServer recording each connection's source tuple.
type opsRig struct {
	lab            *lab.Lab
	cfg            *opsConfig
	online, target *lab.IDServer
	targetLn       *lab.RemoteListener
	gw, cp         *child
	ledger         string
}

func newOpsRig(t *testing.T, withLedger bool) *opsRig {
	t.Helper()
	bin := needBinary(t, "up", "copy")
	r := &opsRig{lab: newOpsLab(t)}
	dir := t.TempDir()
	r.cfg = newOpsConfig(t, r.lab, dir)
	if withLedger {
		r.ledger = filepath.Join(dir, "sessions.jsonl")
		r.cfg.write(t, r.ledger)
	}
	r.online = listenID(t, r.lab, lab.Online)
	ln, err := r.lab.Listen(lab.Target, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	r.targetLn = &lab.RemoteListener{Listener: ln}
	r.target = lab.NewIDServer(r.targetLn, lab.IDServerOptions{Logger: lab.Logger(t)})
	t.Cleanup(func() { r.target.Close() })
	r.gw = startRole(t, r.lab, lab.Assistant, bin, "up", "--config", r.cfg.gwPath)
	r.cp = startRole(t, r.lab, lab.Online, bin, "copy", "--config", r.cfg.cpPath)
	// Warm up: one request replayed end to end.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; r.target.CountPrefix("warm") == 0; i++ {
		r.gw.alive(t)
		r.cp.alive(t)
		if time.Now().After(deadline) {
			t.Fatal("no warm-up request reached the target in 20s")
		}
		r.load(t, fmt.Sprintf("warm%d-", i), 1)
		lab.WaitFor(t, 300*time.Millisecond, func() bool { return r.target.CountPrefix("warm") > 0 })
	}
	return r
}

// load sends n uniquely numbered requests on short connections and
// returns their ids (all answered by the online server).
func (r *opsRig) load(t *testing.T, prefix string, n int) []string {
	t.Helper()
	return loadAnswered(t, r.lab, lab.LoadOptions{
		Addr: r.lab.Addr(lab.Online).String() + ":80", Short: n, Rate: 200, Duration: 15 * time.Second, IDPrefix: prefix,
	}, 100).OK
}

// waitSessionsEnded waits until the copier has no open session and all of
// ids reached the target.
func (r *opsRig) waitSessionsEnded(t *testing.T, ids []string) map[string]float64 {
	t.Helper()
	var m map[string]float64
	lab.WaitFor(t, 15*time.Second, func() bool {
		// Scrape only once the target has everything: a session whose
		// request arrived has been counted as started and released.
		if r.target.CountSeen(ids) != len(ids) {
			return false
		}
		var err error
		m, err = scrapeMetrics(r.lab, lab.Online)
		return err == nil && m["replaygw_engine_sessions_open"] == 0
	})
	if got := r.target.CountSeen(ids); got != len(ids) {
		t.Fatalf("target saw %d of %d requests", got, len(ids))
	}
	if m["replaygw_engine_sessions_open"] != 0 {
		t.Logf("copier still has %v sessions open after 15s", m["replaygw_engine_sessions_open"])
	}
	return m
}

// TestMetricsAgainstLoad drives N short connections and checks both
// roles' counters, the target latency histogram, the runtime metrics,
// `replaygw status` and the capabilities each daemon kept.
func TestMetricsAgainstLoad(t *testing.T) {
	r := newOpsRig(t, false)
	before, err := scrapeMetrics(r.lab, lab.Online)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	ids := r.load(t, "met", n)
	cp := r.waitSessionsEnded(t, ids)
	gw, err := scrapeMetrics(r.lab, lab.Assistant)
	if err != nil {
		t.Fatal(err)
	}
	delta := func(name string) float64 { return cp[name] - before[name] }
	t.Logf("copier: started %v, replayed %v, released %v, records received %v; gateway: records sent %v, tun writes %v",
		delta("replaygw_engine_sessions_started_total"), delta(`replaygw_engine_sessions_ended_total{fate="replayed"}`),
		delta("replaygw_engine_requests_released_total"), cp["replaygw_gateway_client_records_received_total"],
		gw["replaygw_gateway_records_sent_total"], gw["replaygw_tun_writes_attempted_total"])
	for _, c := range []struct {
		name string
		min  float64
	}{
		{"replaygw_engine_sessions_started_total", n},
		{"replaygw_engine_requests_released_total", n},
		{`replaygw_engine_sessions_ended_total{fate="replayed"}`, n},
	} {
		if got := delta(c.name); got < c.min {
			t.Errorf("copier %s grew by %v, want >= %v", c.name, got, c.min)
		}
	}
	// Short connections replay one session each; a few more (the
	// client's own retries) are tolerated, a multiple is not.
	if got := delta(`replaygw_engine_sessions_ended_total{fate="replayed"}`); got > n+n/20 {
		t.Errorf("replayed sessions grew by %v for %d connections", got, n)
	}
	ended := func(m map[string]float64) (sum float64) {
		for _, v := range fates(m) {
			sum += v
		}
		return sum
	}
	if got := ended(cp) - ended(before); got < n {
		t.Errorf("sessions ended grew by %v, want >= %d", got, n)
	}
	recv, sent := cp["replaygw_gateway_client_records_received_total"], gw["replaygw_gateway_records_sent_total"]
	if recv < float64(n) || sent < recv {
		t.Errorf("records: gateway sent %v, copier received %v (want sent >= received >= %d)", sent, recv, n)
	}
	if got := gw["replaygw_tun_writes_attempted_total"]; got != 0 {
		t.Errorf("gateway attempted %v writes into the TUN", got)
	}
	if got := cp["replaygw_target_response_seconds_count"]; got <= 0 {
		t.Errorf("target latency histogram count %v", got)
	}
	for h, m := range map[lab.Host]map[string]float64{lab.Online: cp, lab.Assistant: gw} {
		if m["go_goroutines"] <= 0 || m["process_resident_memory_bytes"] <= 0 {
			t.Errorf("%s: Go runtime/process metrics missing (go_goroutines %v, process_resident_memory_bytes %v)",
				h, m["go_goroutines"], m["process_resident_memory_bytes"])
		}
	}

	out, err := r.lab.Exec(lab.Online, replaygwBin, "status", "--once", "--url", "http://"+lab.DemoMetricsListen+"/status").CombinedOutput()
	t.Logf("replaygw status --once:\n%s", out)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	replayed := strconv.FormatFloat(cp[`replaygw_engine_sessions_ended_total{fate="replayed"}`], 'f', -1, 64)
	if !strings.Contains(string(out), replayed) || !strings.Contains(string(out), "replayed") {
		t.Errorf("status output does not show the replayed count %s", replayed)
	}

	// The daemons dropped what they no longer need: the gateway keeps
	// CAP_NET_ADMIN (to undo its routes and filters), the copier only
	// CAP_NET_RAW, which it keeps while its capture ring may grow
	// (TestCopierRingGrowsAfterStall sees it go).
	if got := capEff(t, r.gw.Pid()); got != 1<<12 {
		t.Errorf("gateway CapEff %#x, want %#x (cap_net_admin only); %s", got, 1<<12, threadCaps(r.gw.Pid()))
	}
	if got := capEff(t, r.cp.Pid()); got != 1<<13 {
		t.Errorf("copier CapEff %#x, want %#x (cap_net_raw only: its ring has not grown); %s", got, 1<<13, threadCaps(r.cp.Pid()))
	}
}

// TestLedgerMatchesTarget checks the copier's session ledger against what
// the target saw: one "replayed" line per connection, from the client's
// captured connection, and the same set of pool tuples as the target's
// accepted connections.
func TestLedgerMatchesTarget(t *testing.T) {
	r := newOpsRig(t, true)
	const n = 100
	ids := r.load(t, "led", n)
	r.waitSessionsEnded(t, ids)
	// The ledger is written by a background goroutine; wait for the lines.
	var entries []ledger.Entry
	lab.WaitFor(t, 5*time.Second, func() bool {
		var err error
		entries, err = readLedger(r.ledger)
		return err == nil && len(entries) >= n+1
	})
	entries, err := readLedger(r.ledger)
	if err != nil {
		t.Fatal(err)
	}
	// The ledger also holds the warm-up sessions; the load's sessions are
	// those whose pool tuple the target accepted after the warm-up.
	accepted := r.targetLn.Remotes()
	online := netip.AddrPortFrom(r.lab.Addr(lab.Online), 80).String()
	clientAddr := r.lab.Addr(lab.Client)
	replayed := make(map[string]bool)
	withOnline := 0
	var onlineSum, targetSum time.Duration
	for _, e := range entries {
		if e.Fate != "replayed" {
			t.Errorf("ledger line with fate %q: %+v", e.Fate, e)
			continue
		}
		orig, dst, ok := strings.Cut(e.Original, "->")
		ap, err := netip.ParseAddrPort(orig)
		if !ok || err != nil || dst != online || ap.Addr() != clientAddr {
			t.Errorf("ledger original %q: want %s:port->%s", e.Original, clientAddr, online)
		}
		c, err := netip.ParseAddrPort(e.Client)
		if err != nil || !r.lab.Pool.Contains(c.Addr()) {
			t.Errorf("ledger client %q is not in the pool %s", e.Client, r.lab.Pool)
		}
		if e.Target != r.cfg.To.String() {
			t.Errorf("ledger target %q, want %s", e.Target, r.cfg.To)
		}
		if e.Requests < 1 {
			t.Errorf("ledger line with %d requests: %+v", e.Requests, e)
		}
		if replayed[e.Client] {
			t.Errorf("pool tuple %s in the ledger twice", e.Client)
		}
		replayed[e.Client] = true
		if e.OnlineRTT > 0 && e.OnlineRTT < time.Second {
			withOnline++
			onlineSum += e.OnlineRTT
		}
		targetSum += e.TargetRTT
	}
	// Every short connection's response is acknowledged by the client on
	// its own (ACK or FIN): the online server's response time is known.
	if withOnline < len(entries)*9/10 {
		t.Errorf("%d of %d ledger lines have an online response time in (0, 1s)", withOnline, len(entries))
	}
	if len(entries) < n+1 {
		t.Errorf("ledger has %d lines, want %d load + >= 1 warm-up", len(entries), n)
	}
	var missing, extra []string
	for a := range accepted {
		if !replayed[a] {
			missing = append(missing, a)
		}
	}
	for a := range replayed {
		if !accepted[a] {
			extra = append(extra, a)
		}
	}
	if len(missing)+len(extra) != 0 {
		t.Errorf("ledger vs target: %d tuples the target accepted are not in the ledger %v; %d ledger tuples the target never accepted %v",
			len(missing), first(missing, 5), len(extra), first(extra, 5))
	}
	t.Logf("ledger: %d lines, target accepted %d connections; mean response time online %v (estimated), target %v",
		len(entries), len(accepted), onlineSum/time.Duration(max(withOnline, 1)), targetSum/time.Duration(max(len(entries), 1)))
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func readLedger(path string) ([]ledger.Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var es []ledger.Entry
	for line := range strings.Lines(string(b)) {
		var e ledger.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("ledger line %q: %w", line, err)
		}
		es = append(es, e)
	}
	return es, nil
}
