package integration

// The comparison lab (issue 13): production (online:80) and a target build
// (target:80) that differs on known requests - a status code on every
// 97th, an extra header on every 50th, a JSON field in every 20th, +20 ms
// on the slow path - behind a copier whose route is protocol = "http" with
// [compare] on, and a gateway that compares into its store. The report of
// the store must find exactly those differences and that delay. The noise
// variant adds a random header to every response of every build and a
// noise target (target:81, production's build): that header must be
// classed as noise, not as a difference.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
	"github.com/replaygw/replaygw/report"
)

// The target build's differences and the load.
const (
	cmpN           = 1000
	cmpStatusEvery = 97
	cmpHeaderEvery = 50
	cmpJSONEvery   = 20
	cmpConns       = 10
	cmpRate        = 200 // req/s: a connection's requests come ~50 ms apart, beyond the slow target's 25 ms
	cmpSlowEvery   = cmpConns
	cmpSlowAt      = 5 // request n%10 == 5: all on one connection
	cmpWork        = 5 * time.Millisecond
	cmpSlow        = 20 * time.Millisecond
	cmpNoisePort   = 81
)

// cmpExpected counts the requests 1..n that differ, by kind and in all.
func cmpExpected(n int) (status, headers, body, differing int64) {
	for i := 1; i <= n; i++ {
		s, h, b := i%cmpStatusEvery == 0, i%cmpHeaderEvery == 0, i%cmpJSONEvery == 0
		status, headers, body = status+b2i(s), headers+b2i(h), body+b2i(b)
		differing += b2i(s || h || b)
	}
	return
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestCompareLab(t *testing.T)      { runCompareLab(t, false) }
func TestCompareLabNoise(t *testing.T) { runCompareLab(t, true) }

func runCompareLab(t *testing.T, noise bool) {
	bin := needBinary(t, "up", "copy")
	r := newRigLab(t, bin)
	store := filepath.Join(t.TempDir(), "compare")
	section := compareSection(store)

	// The builds: production, the target build and, in noise mode,
	// production's build again on target:81.
	r.Online.Close()
	r.Target.Close()
	r.Online, r.Target = nil, nil
	prod := lab.CompareServerOptions{Work: cmpWork, RandomHeader: noise, Logger: r.Opts.Logger}
	cand := prod
	cand.StatusEvery, cand.HeaderEvery, cand.JSONEvery, cand.Slow = cmpStatusEvery, cmpHeaderEvery, cmpJSONEvery, cmpSlow
	serve := func(h lab.Host, port int, o lab.CompareServerOptions) *lab.CompareServer {
		ln, err := r.Lab.Listen(h, "tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			t.Fatal(err)
		}
		s := lab.NewCompareServer(ln, o)
		t.Cleanup(func() { s.Close() })
		return s
	}
	serve(lab.Online, 80, prod)
	target := serve(lab.Target, 80, cand)
	var noiseSrv *lab.CompareServer
	cc := copierConf{Protocols: []string{"http"}, Sections: []string{section}}
	if noise {
		noiseSrv = serve(lab.Target, cmpNoisePort, prod)
		na := netip.AddrPortFrom(r.Lab.Addr(lab.Target), cmpNoisePort)
		cc.RouteKeys = []string{fmt.Sprintf("noise_target = %q", na)}
	}

	startGatewayWith(r, section)
	r.startCopier(cc, false)
	warm := cmpWarmUp(t, r, target)

	addr := r.Lab.Addr(lab.Online).String() + ":80"
	lo := lab.CompareLoadOptions{Addr: addr, N: cmpN, Conns: cmpConns, Rate: cmpRate,
		SlowEvery: cmpSlowEvery, SlowAt: cmpSlowAt, Duration: 40 * time.Second, IDPrefix: "c"}
	res, err := r.Lab.CompareLoad(context.Background(), lab.Client, lo)
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered != cmpN || res.Status[200] != cmpN {
		t.Fatalf("production answered %d of %d (%v): %v", res.Answered, cmpN, res.Status, res.Errors)
	}
	want := int64(cmpN + warm)
	lab.WaitFor(t, 20*time.Second, func() bool {
		return target.Seen() >= int(want) && (noiseSrv == nil || noiseSrv.Seen() >= int(want))
	})
	missing := 0
	for n := 1; n <= cmpN; n++ {
		if !target.SeenID(fmt.Sprintf("c-%d", n)) {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("the target missed %d of %d requests", missing, cmpN)
	}
	// Every exchange compared (noise twins paired within 5 s), then the
	// copier and the gateway stop: the store writes its counts.
	deadline := time.Now().Add(20 * time.Second)
	var m map[string]float64
	for {
		m = r.gatewayMetrics()
		if v, _ := metric(m, "replaygw_compare_exchanges_total"); int64(v) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("gateway compare counters: %s", compareCounters(m))
	if err := r.CP.Stop(10 * time.Second); err != nil {
		t.Errorf("copier: %v", err)
	}
	if err := r.GW.Stop(10 * time.Second); err != nil {
		t.Errorf("gateway: %v", err)
	}
	sum := cmpReport(t, bin, store)
	defer func() {
		if t.Failed() {
			js, _ := json.MarshalIndent(sum, "", " ")
			t.Logf("report: %s", js)
		}
	}()

	status, headers, body, differing := cmpExpected(cmpN)
	if sum.Exchanges != want || sum.Differing != differing {
		t.Errorf("exchanges %d, differing %d; want %d (%d requests + %d warm-ups), %d", sum.Exchanges, sum.Differing, want, cmpN, warm, differing)
	}
	for k, v := range map[string]int64{"status": status, "headers": headers, "body": body} {
		if sum.ByKind[k] != v {
			t.Errorf("by_kind %s = %d, want %d", k, sum.ByKind[k], v)
		}
	}
	if sum.Dropped != 0 || sum.Capped != 0 || sum.Stored != want {
		t.Errorf("dropped %d, capped %d, stored %d of %d", sum.Dropped, sum.Capped, sum.Stored, want)
	}
	fields := map[string]int64{"status": status, "headers x-extra": headers, "body $.color": body}
	if len(sum.Fields) != len(fields) {
		t.Errorf("fields %v, want exactly %v", sum.Fields, fields)
	}
	for _, f := range sum.Fields {
		if fields[f.Field] != f.Count {
			t.Errorf("field %s differs %d times, want %d", f.Field, f.Count, fields[f.Field])
		}
	}
	if sum.Errors.Online != 0 || sum.Errors.Target != status {
		t.Errorf("errors online %d, target %d; want 0, %d", sum.Errors.Online, sum.Errors.Target, status)
	}
	if noise {
		if sum.WithNoise != want || len(sum.Noise) != 1 || sum.Noise[0].Field != "headers x-random" {
			t.Errorf("with_noise %d (want %d), noise fields %v (want only headers x-random)", sum.WithNoise, want, sum.Noise)
		}
	} else if sum.WithNoise != 0 || len(sum.Noise) != 0 {
		t.Errorf("with_noise %d, noise fields %v without a noise target", sum.WithNoise, sum.Noise)
	}
	cmpLatency(t, sum)
}

// startGatewayWith starts the rig's gateway with its own TUN name and the
// extra section (none when empty) at the end of its config.
func startGatewayWith(r *copyRig, section string) {
	r.t.Helper()
	gwc, err := os.ReadFile(r.GWConfig)
	if err != nil {
		r.t.Fatal(err)
	}
	gwc = bytes.Replace(gwc, []byte(`tun = "rgw0"`), []byte(fmt.Sprintf("tun = %q", r.tun)), 1)
	if section != "" {
		gwc = append(gwc, "\n"+section+"\n"...)
	}
	r.startGateway(gwc)
}

// compareSection is the [compare] section of both roles' configs.
func compareSection(store string) string {
	return fmt.Sprintf("[compare]\nenabled = true\nstore = %q", store)
}

// cmpWarmUp sends probe requests (GET /warm/<k>, equal on every build)
// until one reaches the target: the copier is capturing. It returns how
// many of them the target saw, each an exchange of the report.
func cmpWarmUp(t *testing.T, r *copyRig, target *lab.CompareServer) int {
	t.Helper()
	d, err := r.Lab.Dialer(lab.Client)
	if err != nil {
		t.Fatal(err)
	}
	c := d.HTTPClient(2 * time.Second)
	base := "http://" + r.Lab.Addr(lab.Online).String()
	for k := 1; k <= 50; k++ {
		id := fmt.Sprintf("w-%d", k)
		resp, err := c.Get(base + "/warm/" + fmt.Sprint(k) + "?id=" + id)
		if err == nil {
			resp.Body.Close()
		}
		limit := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(limit) && !target.SeenID(id) {
			time.Sleep(20 * time.Millisecond)
		}
		if target.SeenID(id) {
			time.Sleep(300 * time.Millisecond) // a late earlier probe
			return target.Seen()
		}
	}
	t.Fatal("no probe reached the target in 50 tries: the copier does not replay")
	return 0
}

// cmpReport is `replaygw report --json` of the one run under store, or
// report.Build of it when the binary has no report command yet.
func cmpReport(t *testing.T, bin, store string) *report.Summary {
	t.Helper()
	runs, err := filepath.Glob(filepath.Join(store, "*"))
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs under %s: %v (%v), want one", store, runs, err)
	}
	out, err := exec.Command(bin, "report", "--json", "--store", runs[0]).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || !strings.Contains(string(ee.Stderr), "unknown command") {
			t.Fatalf("replaygw report: %v\n%s", err, out)
		}
		t.Logf("replaygw report is not in the binary yet: report.Build(%s)", runs[0])
		s, err := report.Build(runs[0])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var s report.Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("replaygw report --json: %v\n%s", err, out)
	}
	return &s
}

// cmpLatency: the slow endpoint is 20 ms slower on the target, within a
// few ms; the others are not slower by more than that.
func cmpLatency(t *testing.T, sum *report.Summary) {
	t.Helper()
	const tol = 4.0 // ms
	var slow, item *report.Endpoint
	for i := range sum.Endpoints {
		switch e := &sum.Endpoints[i]; e.Key {
		case "GET /slow/{id}":
			slow = e
		case "GET /item/{id}":
			item = e
		}
	}
	if slow == nil || item == nil {
		t.Fatalf("endpoints %+v: want GET /slow/{id} and GET /item/{id}", sum.Endpoints)
	}
	if slow.Exchanges != cmpN/cmpSlowEvery || item.Exchanges != cmpN-cmpN/cmpSlowEvery {
		t.Errorf("exchanges: slow %d, item %d", slow.Exchanges, item.Exchanges)
	}
	want := float64(cmpSlow) / float64(time.Millisecond)
	if d := slow.SlowdownMs(); math.Abs(d-want) > tol {
		t.Errorf("slow endpoint: target p50 %.2f ms - online p50 %.2f ms = %.2f ms, want %.0f ± %.0f",
			slow.TargetP50Ms, slow.OnlineP50Ms, d, want, tol)
	}
	if d := item.SlowdownMs(); math.Abs(d) > tol {
		t.Errorf("item endpoint: target p50 %.2f ms - online p50 %.2f ms = %.2f ms, want 0 ± %.0f",
			item.TargetP50Ms, item.OnlineP50Ms, d, tol)
	}
	t.Logf("p50 slow: online %.2f ms, target %.2f ms; item: online %.2f ms, target %.2f ms",
		slow.OnlineP50Ms, slow.TargetP50Ms, item.OnlineP50Ms, item.TargetP50Ms)
}

// compareCounters lists the gateway's compare samples.
func compareCounters(m map[string]float64) string {
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, "replaygw_compare_") && !strings.Contains(k, "_bucket") {
			out = append(out, fmt.Sprintf("%s=%g", strings.TrimPrefix(k, "replaygw_compare_"), v))
		}
	}
	return strings.Join(out, " ")
}
