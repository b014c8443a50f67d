package integration

// copyRig: a lab with the real gateway running and the real copier started
// on demand with a tuned config, for the end-to-end tests of issue 3 and
// the lab benchmark.

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// rgEPrefix names every namespace these tests create.
const rgEPrefix = "rgE"

// copierConf tunes the copier's config beyond the demo's.
type copierConf struct {
	Pool   netip.Prefix // client_pool; zero: the lab's pool
	Extra  []string     // more [copy] lines, e.g. "copies = 3"
	Routes [][2]netip.AddrPort
	// Protocols, optional, set each route's protocol key (same index; ""
	// leaves it out).
	Protocols []string
	// RouteKeys are more lines of every route, e.g. `noise_target = "..."`.
	RouteKeys []string
	// RouteLines, optional, are more lines of route i only (same index),
	// e.g. `compare = false`.
	RouteLines [][]string
	// Sections are more tables after [metrics], e.g. a [compare] section.
	Sections []string
}

// copyRig is one lab with its two real roles.
type copyRig struct {
	*lab.Rig
	t   *testing.T
	log bytes.Buffer
	tun string // the gateway's TUN device
}

// newCopyRig builds the lab (with in-process ID servers on online:80 and
// target:80) and starts `replaygw up` in the assistant. Everything is
// removed in t.Cleanup.
func newCopyRig(t *testing.T, bin string) *copyRig {
	t.Helper()
	r := newRigLab(t, bin)
	gwc, err := os.ReadFile(r.GWConfig)
	if err != nil {
		t.Fatal(err)
	}
	gwc = bytes.Replace(gwc, []byte(`tun = "rgw0"`), []byte(fmt.Sprintf("tun = %q", r.tun)), 1)
	r.startGateway(gwc)
	return r
}

// newRigLab builds the lab of a copyRig (ID servers, configs, logs)
// without starting a role; everything is removed in t.Cleanup.
func newRigLab(t *testing.T, bin string) *copyRig {
	t.Helper()
	r := &copyRig{t: t}
	r.Rig = &lab.Rig{
		Opts: lab.DemoOptions{Binary: bin, Prefix: rgEPrefix, ReadyTimeout: 20 * time.Second, Logger: lab.Logger(t)},
		Out:  &r.log, Dir: t.TempDir(), Res: &lab.DemoResult{},
	}
	if err := r.Opts.Defaults(); err != nil {
		t.Fatal(err)
	}
	closeRigAtEnd(t, r.Rig, &r.log, rgEPrefix)
	if err := r.Setup(); err != nil {
		t.Fatal(err)
	}
	// A TUN name of our own: the gateway keeps its state file under
	// /run/replaygw/<tun>.json, shared by every namespace on the machine.
	r.tun = r.Lab.Name + "t"
	return r
}

// startGateway writes config as the gateway's, starts `replaygw up` in the
// assistant and waits until its /metrics answers.
func (r *copyRig) startGateway(config []byte) {
	r.t.Helper()
	if err := os.WriteFile(r.GWConfig, config, 0o600); err != nil {
		r.t.Fatal(err)
	}
	var err error
	r.GW, err = r.Lab.Start(lab.Assistant, r.GWLog, r.Opts.Binary, "up", "--config", r.GWConfig)
	if err != nil {
		r.t.Fatal(err)
	}
	never := func() bool { return false }
	if err := r.WaitReady(context.Background(), lab.Assistant, r.GW, r.GWLog, time.Now().Add(r.Opts.ReadyTimeout), never, ""); err != nil {
		r.t.Fatal(err)
	}
}

// replaceTarget swaps the target's ID server for one built with opts.
func (r *copyRig) replaceTarget(opts lab.IDServerOptions) {
	r.t.Helper()
	r.Target.Close()
	ln, err := r.Lab.Listen(lab.Target, "tcp", ":80")
	if err != nil {
		r.t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = r.Opts.Logger
	}
	r.Target = lab.NewIDServer(ln, opts)
}

var tokenRE = regexp.MustCompile(`(?m)^token = "([^"]+)"`)

// copierTOML renders the copier's config with the gateway's token.
func (r *copyRig) copierTOML(c copierConf) (string, error) {
	gw, err := os.ReadFile(r.GWConfig)
	if err != nil {
		return "", fmt.Errorf("read gateway config: %w", err)
	}
	m := tokenRE.FindSubmatch(gw)
	if m == nil {
		return "", fmt.Errorf("no token in %s", r.GWConfig)
	}
	dc := lab.NewDemoConfig(r.Lab)
	if !c.Pool.IsValid() {
		c.Pool = r.Lab.Pool
	}
	if len(c.Routes) == 0 {
		c.Routes = [][2]netip.AddrPort{{dc.From, dc.To}}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[copy]\ninterface = %q\ngateways = [%q]\ntoken = %q\nclient_pool = %q\n",
		dc.Interface, dc.Gateway, string(m[1]), c.Pool.String())
	for _, l := range c.Extra {
		b.WriteString(l + "\n")
	}
	for i, rt := range c.Routes {
		fmt.Fprintf(&b, "\n[[copy.route]]\nfrom = %q\nto = %q\n", rt[0].String(), rt[1].String())
		if i < len(c.Protocols) && c.Protocols[i] != "" {
			fmt.Fprintf(&b, "protocol = %q\n", c.Protocols[i])
		}
		for _, l := range c.RouteKeys {
			b.WriteString(l + "\n")
		}
		if i < len(c.RouteLines) {
			for _, l := range c.RouteLines[i] {
				b.WriteString(l + "\n")
			}
		}
	}
	fmt.Fprintf(&b, "\n[metrics]\nlisten = %q\n", dc.MetricsAddr)
	for _, s := range c.Sections {
		b.WriteString("\n" + s + "\n")
	}
	return b.String(), nil
}

// startCopier writes the copier's config, starts `replaygw copy` in the
// online namespace and waits for its /metrics. With probe set it also
// waits until an HTTP probe to online:80 is replayed to target:80.
func (r *copyRig) startCopier(c copierConf, probe bool) {
	r.t.Helper()
	text, err := r.copierTOML(c)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(r.CPConfig, []byte(text), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.CP, err = r.Lab.Start(lab.Online, r.CPLog, r.Opts.Binary, "copy", "--config", r.CPConfig)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(r.Opts.ReadyTimeout)
	if err := r.WaitReady(ctx, lab.Online, r.CP, r.CPLog, deadline, func() bool { return false }, ""); err != nil {
		r.t.Fatalf("%v\nconfig:\n%s", err, text)
	}
	if probe {
		if err := r.WaitReplay(ctx, deadline); err != nil {
			r.t.Fatal(err)
		}
	}
}

// copierMetrics scrapes the copier's /metrics inside the online namespace:
// sample name with labels (as printed) -> value.
func (r *copyRig) copierMetrics() map[string]float64 {
	r.t.Helper()
	return r.scrape(lab.Online, "copier")
}

// gatewayMetrics scrapes the gateway's /metrics inside the assistant.
func (r *copyRig) gatewayMetrics() map[string]float64 {
	r.t.Helper()
	return r.scrape(lab.Assistant, "gateway")
}

func (r *copyRig) scrape(h lab.Host, role string) map[string]float64 {
	r.t.Helper()
	m, err := scrapeMetrics(r.Lab, h)
	if err != nil {
		r.t.Fatalf("%s metrics: %v", role, err)
	}
	return m
}

// metric returns the value of the first sample whose name (labels
// included) contains every part, and whether one exists.
func metric(m map[string]float64, parts ...string) (float64, bool) {
	for k, v := range m {
		ok := true
		for _, p := range parts {
			if !strings.Contains(k, p) {
				ok = false
				break
			}
		}
		if ok {
			return v, true
		}
	}
	return 0, false
}

// fates returns every engine fate counter of a scrape, by fate name: the
// labeled vector replaygw_engine_sessions_ended_total{fate="..."}.
func fates(m map[string]float64) map[string]float64 {
	labeled := make(map[string]float64)
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, `replaygw_engine_sessions_ended_total{fate="`); ok {
			if j := strings.IndexByte(rest, '"'); j > 0 {
				labeled[rest[:j]] += v
			}
		}
	}
	return labeled
}

// copierAlive fails the test when the copier has exited.
func (r *copyRig) copierAlive() {
	r.t.Helper()
	if err := r.ChildrenAlive(); err != nil {
		r.t.Fatal(err)
	}
}

// loadAnswered runs lo from the client host and fails the test unless the
// online server answered at least minPercent of the planned requests
// (short ones plus keep-alive connections times requests per connection).
func loadAnswered(t *testing.T, l *lab.Lab, lo lab.LoadOptions, minPercent int) *lab.LoadResult {
	t.Helper()
	res, err := l.Load(context.Background(), lab.Client, lo)
	if err != nil {
		t.Fatal(err)
	}
	planned := lo.Short + lo.KeepAlive*lo.PerConn
	if len(res.OK) < planned*minPercent/100 {
		t.Fatalf("online answered only %d of %d (failed %d, not sent %d): %v", len(res.OK), planned, res.Failed, res.NotSent, res.Errors)
	}
	return res
}
