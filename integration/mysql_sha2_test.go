package integration

// A caching_sha2_password target: the lab's Go MySQL server speaking
// mysql_native_password on the online host and caching_sha2_password on
// the target, the mariadb client logging in to the online one twice. The
// copier must answer the target's AuthSwitchRequest, its full auth (RSA
// public key) the first time and its fast auth the second, and replay
// every query.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

func TestCopyMySQLSHA2(t *testing.T) {
	bin := needBinary(t, "up", "copy")
	if _, err := os.Stat(lab.MariaDBClient); err != nil {
		t.Skipf("%s is missing (install mariadb-client, see .ci/deps)", lab.MariaDBClient)
	}
	r := newCopyRig(t, bin)
	dir := t.TempDir()
	users := map[string]string{"app": "app-Pass-9"}
	serve := func(h lab.Host, plugin string) (*lab.MySQLServer, netip.AddrPort) {
		ln, err := r.Lab.Listen(h, "tcp", ":3307")
		if err != nil {
			t.Fatal(err)
		}
		s, err := lab.NewMySQLServer(ln, plugin, users)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, netip.AddrPortFrom(r.Lab.Addr(h), 3307)
	}
	online, onAddr := serve(lab.Online, lab.PluginNative)
	target, tgAddr := serve(lab.Target, lab.PluginSHA2)
	dc := lab.NewDemoConfig(r.Lab)
	r.startCopier(copierConf{
		Routes:    [][2]netip.AddrPort{{dc.From, dc.To}, {onAddr, tgAddr}},
		Protocols: []string{"", "mysql"},
		Extra:     []string{"[copy.mysql]", fmt.Sprintf("users = [%q]", "app "+users["app"])},
	}, true)
	t.Cleanup(func() {
		if t.Failed() {
			logMySQLMetrics(t, r.copierMetrics())
		}
	})
	acct := lab.MySQLAccount{User: "app", Password: users["app"]}
	for i := range 2 {
		mariadbOnce(t, r.Lab, filepath.Join(dir), onAddr, acct, fmt.Sprintf("SELECT %d; UPDATE t SET a = %d;", i, i))
	}
	lab.WaitFor(t, 8*time.Second, func() bool { return len(target.Queries()) >= len(online.Queries()) })
	if on, tg := online.Queries(), target.Queries(); !slices.Equal(on, tg) {
		t.Errorf("queries online %q, target %q", on, tg)
	}
	st := &target.Stats
	t.Logf("target: switches %d, full auth %d, fast auth %d, denied %d; online native logins %d",
		st.Switches.Load(), st.FullAuth.Load(), st.FastAuth.Load(), st.Denied.Load(), online.Stats.Native.Load())
	if st.Switches.Load() != 2 || st.FullAuth.Load() != 1 || st.FastAuth.Load() != 1 || st.Denied.Load() != 0 || st.ClearAuth.Load() != 0 {
		t.Errorf("target auth: want 2 switches to caching_sha2, 1 full auth by RSA key, 1 fast auth, none denied or in clear")
	}
	r.copierAlive()
}
