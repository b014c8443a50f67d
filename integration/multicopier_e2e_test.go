package integration

// Several copiers on one gateway (issue 11): two `replaygw copy` processes
// on the online host replay the same traffic through one gateway and one
// client pool. The gateway gives each its share of the pool, so every
// request reaches the target twice, from two tuples in different shares,
// and no session loses its lease to the other copier.

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// secondMetrics is where the second copier serves /metrics in the online
// namespace (the first has lab.DemoMetricsListen).
const secondMetrics = "127.0.0.1:9258"

// secondCopierMetrics scrapes the second copier's /metrics.
func (r *copyRig) secondCopierMetrics() map[string]float64 {
	r.t.Helper()
	d, err := r.Lab.Dialer(lab.Online)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := d.HTTPClient(3 * time.Second).Get("http://" + secondMetrics + "/metrics")
	if err != nil {
		r.t.Fatalf("second copier metrics: %v", err)
	}
	defer resp.Body.Close()
	m, err := parseMetrics(resp.Body)
	if err != nil {
		r.t.Fatalf("second copier metrics: %v", err)
	}
	return m
}

func TestMultiCopierSharedPool(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	var mu sync.Mutex
	seen := make(map[string][]string) // id -> remote addr:port per arrival
	r.replaceTarget(lab.IDServerOptions{OnRequest: func(id, remote string) {
		mu.Lock()
		seen[id] = append(seen[id], remote)
		mu.Unlock()
	}})
	r.startCopier(copierConf{}, false)

	// The second copier: the same config but its own metrics address.
	text, err := r.copierTOML(copierConf{})
	if err != nil {
		t.Fatal(err)
	}
	text = strings.Replace(text, lab.DemoMetricsListen, secondMetrics, 1)
	cfg2 := filepath.Join(t.TempDir(), "copier2.toml")
	if err := os.WriteFile(cfg2, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	log2, err := os.Create(filepath.Join(t.TempDir(), "copier2.log"))
	if err != nil {
		t.Fatal(err)
	}
	cp2, err := r.Lab.Start(lab.Online, log2, r.Opts.Binary, "copy", "--config", cfg2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cp2.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("second copier:\n%s", lab.LogTail(log2.Name(), 30))
		}
	})
	lab.WaitFor(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(log2.Name())
		v, _ := metric(r.gatewayMetrics(), "replaygw_gateway_copiers_connected")
		return v == 2 && strings.Contains(string(b), "metrics: serving")
	})
	shares := func(m map[string]float64) float64 {
		v, _ := metric(m, "replaygw_gateway_client_share_changes")
		return v
	}
	lab.WaitFor(t, 10*time.Second, func() bool {
		return shares(r.copierMetrics()) >= 1 && shares(r.secondCopierMetrics()) >= 1
	})
	if err := r.WaitReplay(context.Background(), time.Now().Add(r.Opts.ReadyTimeout)); err != nil {
		t.Fatal(err)
	}

	lo := lab.LoadOptions{
		Addr: r.Lab.Addr(lab.Online).String() + ":80", Short: 300, KeepAlive: 4, PerConn: 25,
		Rate: 300, Concurrency: 16, Duration: 15 * time.Second, IDPrefix: "mcp",
	}
	res, err := r.Lab.Load(context.Background(), lab.Client, lo)
	if err != nil {
		t.Fatal(err)
	}
	if want := lo.Short + lo.KeepAlive*lo.PerConn; len(res.OK) != want {
		t.Fatalf("online answered %d of %d: %v", len(res.OK), want, res.Errors)
	}
	const copiers = 2
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, id := range res.OK {
			n += min(len(seen[id]), copiers)
		}
		return n
	}
	lab.WaitFor(t, 10*time.Second, func() bool { return count() == copiers*len(res.OK) })

	// Every id twice, from two tuples in different shares of the pool: the
	// pool is split by address, so the two copiers' addresses differ in
	// the parity of their index in the pool.
	pool := r.Lab.Pool
	shareOf := func(remote string) (int, bool) {
		ap, err := netip.ParseAddrPort(remote)
		if err != nil || !pool.Contains(ap.Addr()) {
			return 0, false
		}
		a, base := ap.Addr().As4(), pool.Masked().Addr().As4()
		idx := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) -
			(uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])) - 1
		return int(idx % copiers), true
	}
	mu.Lock()
	bad := 0
	for _, id := range res.OK {
		rs := seen[id]
		var in [copiers]int
		ok := len(rs) == copiers
		for _, a := range rs {
			sh, inPool := shareOf(a)
			ok = ok && inPool
			in[sh]++
		}
		if !ok || in[0] != 1 || in[1] != 1 {
			if bad < 5 {
				t.Errorf("id %s arrived %d times from %v, want once from each share of %s", id, len(rs), rs, pool)
			}
			bad++
		}
	}
	mu.Unlock()

	// Every session intact: no lease refused or lost, no session ended
	// other than replayed (or still open).
	gw := r.gatewayMetrics()
	cps := []map[string]float64{r.copierMetrics(), r.secondCopierMetrics()}
	refused, ok := metric(gw, "replaygw_gateway_leases_refused")
	if !ok {
		t.Error("the gateway exports no replaygw_gateway_leases_refused_total")
	}
	t.Logf("%d ids x %d copiers, %d wrong; gateway leases refused %v; fates %v and %v", len(res.OK), copiers, bad, refused, fates(cps[0]), fates(cps[1]))
	if refused != 0 {
		t.Errorf("the gateway refused %v leases: the shares overlapped", refused)
	}
	for i, m := range cps {
		for f, n := range fates(m) {
			if f != "replayed" && n != 0 {
				t.Errorf("copier %d: %v sessions ended %s", i+1, n, f)
			}
		}
		if n, ok := metric(m, "replaygw_gateway_client_leases_refused"); n != 0 || !ok {
			t.Errorf("copier %d was refused %v leases (exported %v)", i+1, n, ok)
		}
	}
	r.copierAlive()
	select {
	case <-cp2.Done():
		t.Errorf("the second copier exited: %v", cp2.Err())
	default:
	}
}
