package integration

// MySQL end to end: Debian's MariaDB on the online and target hosts (the
// same accounts and data), sysbench and the mariadb client on the client
// host, `replaygw copy` with protocol = "mysql" in between. The target's
// Com_* status counters must follow the online server's, and the target
// must refuse no login.

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

var (
	sbAccount  = lab.MySQLAccount{User: "sbtest", Password: "sb-Pass-1"}
	edAccount  = lab.MySQLAccount{User: "edu", Password: "ed-Pass-2", Plugin: "ed25519"}
	badAccount = lab.MySQLAccount{User: "wrongpw", Password: "real-Pass-3"} // the copier is given another
	mysqlAccts = []lab.MySQLAccount{sbAccount, edAccount, badAccount}
)

const mysqlDB = "sbtest"

// mysqlRig is a copyRig with a MariaDB pair and its route.
type mysqlRig struct {
	*copyRig
	pair  *lab.MariaDBPair
	dir   string
	users string // the copier's users file
}

func newMySQLRig(t *testing.T) *mysqlRig {
	t.Helper()
	bin := needBinary(t, "up", "copy")
	if p := lab.MissingMariaDB(); p != "" {
		t.Skipf("%s is missing (install mariadb-server, mariadb-client and sysbench, see .ci/deps)", p)
	}
	m := &mysqlRig{copyRig: newCopyRig(t, bin), dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var err error
	if m.pair, err = m.Lab.StartMariaDBPair(ctx, m.dir, 3306, mysqlDB, mysqlAccts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.pair.Stop(); err != nil {
			t.Logf("mariadb: %v", err)
		}
		if t.Failed() {
			t.Logf("online server log:\n%s\ntarget server log:\n%s", lab.LogTail(m.pair.Online.Log, 10), lab.LogTail(m.pair.Target.Log, 10))
		}
	})
	for _, s := range []*lab.MariaDB{m.pair.Online, m.pair.Target} {
		if _, err := s.SQL(ctx, "CREATE TABLE sbtest.marks (id VARCHAR(64) PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
	}
	// The target's passwords, one of them wrong.
	m.users = filepath.Join(m.dir, "mysql-users")
	text := fmt.Sprintf("# replay accounts\n%s %s\n%s %s\n%s not-the-password\n",
		sbAccount.User, sbAccount.Password, edAccount.User, edAccount.Password, badAccount.User)
	if err := os.WriteFile(m.users, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

// startCopier starts `replaygw copy` with the demo's HTTP route (for the
// readiness probe) and the MySQL route with protocol proto.
func (m *mysqlRig) startCopier(proto string, extra ...string) {
	m.t.Helper()
	dc := lab.NewDemoConfig(m.Lab)
	lines := append([]string{}, extra...)
	if proto == "mysql" {
		lines = append(lines, "[copy.mysql]", fmt.Sprintf("users_file = %q", m.users),
			fmt.Sprintf("default_user = %q", sbAccount.User), fmt.Sprintf("default_schema = %q", mysqlDB))
	}
	m.copyRig.startCopier(copierConf{
		Routes:    [][2]netip.AddrPort{{dc.From, dc.To}, {m.pair.Online.Addr, m.pair.Target.Addr}},
		Protocols: []string{"", proto},
		Extra:     lines,
	}, true)
}

// stopCopier stops the copier (its sessions end and reset the target's).
func (m *mysqlRig) stopCopier() {
	m.t.Helper()
	if err := m.CP.Stop(10 * time.Second); err != nil {
		m.t.Logf("copier: %v", err)
	}
	m.CP = nil
}

// status snapshots both servers' status counters.
func (m *mysqlRig) status() (online, target map[string]uint64) {
	m.t.Helper()
	ctx := context.Background()
	on, err := m.pair.Online.Status(ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	tg, err := m.pair.Target.Status(ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	return on, tg
}

// delta is after - before for every counter of after.
func delta(before, after map[string]uint64) map[string]uint64 {
	d := make(map[string]uint64, len(after))
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// settle waits (up to 10 s) until the target's counter key has moved as
// far as the online server's since the snapshots, and returns both deltas.
func (m *mysqlRig) settle(on0, tg0 map[string]uint64, key string) (on, tg map[string]uint64) {
	m.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last, stable := uint64(0), 0
	for {
		on1, tg1 := m.status()
		on, tg = delta(on0, on1), delta(tg0, tg1)
		if tg[key] >= on[key] || time.Now().After(deadline) {
			return on, tg
		}
		if tg[key] == last {
			if stable++; stable >= 10 { // nothing moves for 2 s: it will not
				return on, tg
			}
		} else {
			last, stable = tg[key], 0
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sysbench runs oltp_read_write from the client host against the online
// server for seconds, with the given --db-ps-mode.
func (m *mysqlRig) sysbench(psMode string, seconds int) string {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+30)*time.Second)
	defer cancel()
	args := append([]string{"oltp_read_write"}, m.pair.SysbenchArgs(m.pair.Online.Addr, sbAccount)...)
	args = append(args, "--threads=2", fmt.Sprintf("--time=%d", seconds), "--db-ps-mode="+psMode, "run")
	out, err := m.Lab.Sysbench(ctx, lab.Client, args...)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// comRatios compares the Com_* counters that moved on the online server
// by at least minCount: target/online for each, sorted by name.
func comRatios(on, tg map[string]uint64, minCount uint64) (names []string, ratio map[string]float64) {
	ratio = make(map[string]float64)
	for k, v := range on {
		if strings.HasPrefix(k, "Com_") && k != "Com_show_status" && v >= minCount {
			names = append(names, k)
			ratio[k] = float64(tg[k]) / float64(v)
		}
	}
	sort.Strings(names)
	return names, ratio
}

func logComs(t *testing.T, what string, on, tg map[string]uint64, names []string) {
	t.Helper()
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, " %s %d/%d", strings.TrimPrefix(k, "Com_"), tg[k], on[k])
	}
	t.Logf("%s: target/online%s; target Access_denied_errors %d", what, b.String(), tg["Access_denied_errors"])
}

// mariadbClient is the mariadb command-line client in the client host's
// namespace, logged in as a, reading statements from its stdin.
type mariadbClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func (m *mysqlRig) openClient(a lab.MySQLAccount) *mariadbClient {
	m.t.Helper()
	cmd := m.Lab.Exec(lab.Client, lab.MariaDBClient, "--no-defaults", "-h", m.pair.Online.Addr.Addr().String(),
		fmt.Sprintf("-P%d", m.pair.Online.Addr.Port()), "-u", a.User, "-p"+a.Password, "--batch", mysqlDB)
	in, err := cmd.StdinPipe()
	if err != nil {
		m.t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(m.dir, "client-"+a.User+".log"))
	if err != nil {
		m.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	c := &mariadbClient{cmd: cmd, stdin: in}
	m.t.Cleanup(func() {
		c.close()
		logf.Close()
	})
	return c
}

func (c *mariadbClient) send(t *testing.T, stmts string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, stmts+"\n"); err != nil {
		t.Fatalf("mariadb client: %v", err)
	}
}

// close ends the client (EOF on stdin: COM_QUIT) and waits for it.
func (c *mariadbClient) close() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// once runs stmts in one session of the mariadb client as a.
func (m *mysqlRig) once(a lab.MySQLAccount, stmts string) {
	m.t.Helper()
	c := m.openClient(a)
	c.send(m.t, stmts)
	c.close()
	if !c.cmd.ProcessState.Success() {
		m.t.Fatalf("mariadb client as %s: %v (see %s)", a.User, c.cmd.ProcessState, filepath.Join(m.dir, "client-"+a.User+".log"))
	}
}

// hasMark reports whether s's marks table holds id.
func hasMark(t *testing.T, s *lab.MariaDB, id string) bool {
	t.Helper()
	out, err := s.SQL(context.Background(), fmt.Sprintf("SELECT COUNT(*) FROM sbtest.marks WHERE id = '%s'", id))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out) == "1"
}

// waitMark waits up to 8 s for id on s.
func waitMark(t *testing.T, s *lab.MariaDB, id string) bool {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !hasMark(t, s, id) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// TestCopyMySQLTCPBaseline shows why MySQL needs its protocol layer: with
// protocol = "tcp" the captured logins, signed with the online server's
// scramble, are refused by the target, and nothing sysbench ran arrives.
func TestCopyMySQLTCPBaseline(t *testing.T) {
	m := newMySQLRig(t)
	m.startCopier("tcp")
	on0, tg0 := m.status()
	m.sysbench("auto", 1)
	on, tg := m.settle(on0, tg0, "Access_denied_errors")
	names, _ := comRatios(on, tg, 10)
	logComs(t, "protocol tcp", on, tg, names)
	if tg["Access_denied_errors"] == 0 {
		t.Errorf("the target refused no login: the byte-for-byte replay of a MySQL login cannot succeed")
	}
	if on["Com_commit"] < 10 || tg["Com_commit"]*100 > on["Com_commit"] {
		t.Errorf("commits online %d, target %d: want the target to see (almost) none", on["Com_commit"], tg["Com_commit"])
	}
	m.copierAlive()
}
