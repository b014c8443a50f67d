package integration

// End-to-end test of issue 11: one config file with every section, written
// once and used unchanged by `replaygw up` on the assistant and `replaygw
// copy` on the online host; `replaygw config check` says what each command
// would run from it.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// sharedRig is a lab whose two real roles read the same file.
type sharedRig struct {
	*copyRig
	path string // the one config file
	text string // its contents, as written
}

// sharedConfigTOML renders one file for both hosts of lab l: [gateway],
// [copy], [[copy.route]], [metrics] and [log]. The TUN gets a name of the
// lab's own (the state file /run/replaygw/<tun>.json is shared by every
// namespace on the machine).
func sharedConfigTOML(l *lab.Lab) string {
	dc := lab.NewDemoConfig(l)
	var b strings.Builder
	b.WriteString("# one file for every host of the lab: `up` reads [gateway], `copy` reads [copy]\n\n")
	fmt.Fprintf(&b, "[gateway]\ntun = %q\npools = [%q]\ningress = %q\nlisten = %q\ntoken = %q\n\n",
		l.Name+"t", dc.Pool.String(), dc.Ingress, dc.Listen, dc.Token)
	fmt.Fprintf(&b, "[copy]\ninterface = %q\ngateways = [%q]\ntoken = %q\nclient_pool = %q\n\n",
		dc.Interface, dc.Gateway, dc.Token, dc.Pool.String())
	fmt.Fprintf(&b, "[[copy.route]]\nfrom = %q\nto = %q\n\n", dc.From.String(), dc.To.String())
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n\n", dc.MetricsAddr)
	b.WriteString("[log]\nlevel = \"info\"\nformat = \"text\"\n")
	return b.String()
}

// newSharedRig builds the lab, writes the shared file once and starts
// `replaygw up` in the assistant and `replaygw copy` in the online host,
// both with --config on that file, and waits until a probe is replayed.
func newSharedRig(t *testing.T, bin string) *sharedRig {
	t.Helper()
	r := &sharedRig{copyRig: newRigLab(t, bin)}
	r.text = sharedConfigTOML(r.Lab)
	r.path = filepath.Join(r.Dir, "replaygw.toml")
	if err := os.WriteFile(r.path, []byte(r.text), 0o600); err != nil {
		t.Fatal(err)
	}
	r.GWConfig, r.CPConfig = r.path, r.path
	r.startUp()
	var err error
	r.CP, err = r.Lab.Start(lab.Online, r.CPLog, bin, "copy", "--config", r.path)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(r.Opts.ReadyTimeout)
	never := func() bool { return false }
	if err := r.WaitReady(context.Background(), lab.Online, r.CP, r.CPLog, deadline, never, ""); err != nil {
		t.Fatalf("%v\nconfig:\n%s", err, r.text)
	}
	if err := r.WaitReplay(context.Background(), deadline); err != nil {
		t.Fatal(err)
	}
	return r
}

// startUp starts `replaygw up --config` on the shared file in the
// assistant and waits until its /metrics answers.
func (r *sharedRig) startUp() {
	r.t.Helper()
	var err error
	r.GW, err = r.Lab.Start(lab.Assistant, r.GWLog, r.Opts.Binary, "up", "--config", r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	never := func() bool { return false }
	if err := r.WaitReady(context.Background(), lab.Assistant, r.GW, r.GWLog, time.Now().Add(r.Opts.ReadyTimeout), never, ""); err != nil {
		r.t.Fatalf("%v\nconfig:\n%s", err, r.text)
	}
}

// unchanged fails the test if the shared file was modified.
func (r *sharedRig) unchanged() {
	r.t.Helper()
	b, err := os.ReadFile(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	if string(b) != r.text {
		r.t.Errorf("the shared config changed while the roles ran:\n%s", b)
	}
}

// TestSharedConfig: one file for both hosts; >= 99.9 % of the ids the
// online server answered reach the target, and `config check` on the file
// names what each command runs.
func TestSharedConfig(t *testing.T) {
	r := newSharedRig(t, needBinary(t, "up", "copy", "config"))

	// `config check` in the assistant's namespace (it reads the file and
	// the interfaces named in it, and changes nothing).
	out, err := r.Lab.Exec(lab.Assistant, r.Opts.Binary, "config", "check", r.path).CombinedOutput()
	t.Logf("config check:\n%s", out)
	if err != nil {
		t.Fatalf("config check %s: %v\n%s", r.path, err, out)
	}
	dc := lab.NewDemoConfig(r.Lab)
	for _, want := range []string{
		r.path + ": OK",
		"up:        gateway with TUN " + r.tun + ", pools " + r.Lab.Pool.String() + ", control channel :36524",
		"copy:      copier with capture on " + lab.Iface + ", 1 route(s), gateways " + dc.Gateway + ", sender raw",
		"appliance: appliance: copier from mirror port " + lab.Iface + ", 1 route(s), sender tun " + r.tun + "s; gateway with TUN " + r.tun,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config check output lacks %q", want)
		}
	}

	lo := lab.LoadOptions{
		Addr: r.Lab.Addr(lab.Online).String() + ":80", Short: 600, KeepAlive: 6, PerConn: 50,
		Rate: 500, Concurrency: 32, Duration: 15 * time.Second, IDPrefix: "shared",
	}
	res := loadAnswered(t, r.Lab, lo, 99)
	got := waitSeen(r.Target, res.OK, 5*time.Second)
	success := lab.Percent(got, len(res.OK))
	t.Logf("shared config: %d of %d answered ids reached the target = %.3f%% (load %.1fs)",
		got, len(res.OK), success, res.Elapsed.Seconds())
	if success < 99.9 {
		t.Errorf("replay success %.3f%% < 99.9%%", success)
	}
	if n := r.Target.Stats.Duplicates.Load(); n != 0 {
		t.Errorf("target saw %d duplicate requests", n)
	}
	r.copierAlive()
	r.unchanged()
}
