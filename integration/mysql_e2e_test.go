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
	"github.com/replaygw/replaygw/ledger"
)

var (
	sbAccount  = lab.MySQLAccount{User: "sbtest", Password: "sb-Pass-1"}
	edAccount  = lab.MySQLAccount{User: "edu", Password: "ed-Pass-2", Plugin: "ed25519"}
	badAccount = lab.MySQLAccount{User: "wrongpw", Password: "real-Pass-3"} // the copier is given another
	// openAccount has no password: its login, replayed byte for byte, is
	// accepted (the benchmark's protocol = "tcp" run that carries a session).
	openAccount = lab.MySQLAccount{User: "sbopen"}
	mysqlAccts  = []lab.MySQLAccount{sbAccount, edAccount, badAccount, openAccount}
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
	return m.sysbenchAs(sbAccount, psMode, seconds)
}

// sysbenchAs is sysbench as account a.
func (m *mysqlRig) sysbenchAs(a lab.MySQLAccount, psMode string, seconds int) string {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+30)*time.Second)
	defer cancel()
	args := append([]string{"oltp_read_write"}, m.pair.SysbenchArgs(m.pair.Online.Addr, a)...)
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
	log   string
}

// openMariaDBClient starts the client in l's client host, logged in to
// addr as a (database sbtest); its output goes to dir/client-<user>.log.
func openMariaDBClient(t *testing.T, l *lab.Lab, dir string, addr netip.AddrPort, a lab.MySQLAccount) *mariadbClient {
	t.Helper()
	cmd := l.Exec(lab.Client, lab.MariaDBClient, "--no-defaults", "-h", addr.Addr().String(),
		fmt.Sprintf("-P%d", addr.Port()), "-u", a.User, "-p"+a.Password, "--batch", mysqlDB)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &mariadbClient{cmd: cmd, stdin: in, log: filepath.Join(dir, "client-"+a.User+".log")}
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.close()
		logf.Close()
	})
	return c
}

// mariadbOnce runs stmts in one session of the client and fails the test
// unless the client succeeded.
func mariadbOnce(t *testing.T, l *lab.Lab, dir string, addr netip.AddrPort, a lab.MySQLAccount, stmts string) {
	t.Helper()
	c := openMariaDBClient(t, l, dir, addr, a)
	c.send(t, stmts)
	c.close()
	if !c.cmd.ProcessState.Success() {
		t.Fatalf("mariadb client as %s: %v\n%s", a.User, c.cmd.ProcessState, lab.LogTail(c.log, 5))
	}
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

// checkComs fails the test unless every Com_* counter the online server
// moved (by at least 10) moved on the target by 99.9 % to 100.1 % as much,
// and the target refused no login.
func checkComs(t *testing.T, what string, on, tg map[string]uint64) {
	t.Helper()
	names, ratio := comRatios(on, tg, 10)
	logComs(t, what, on, tg, names)
	if len(names) < 5 {
		t.Errorf("%s: only %d Com_* counters moved online: %v", what, len(names), names)
	}
	for _, k := range names {
		if ratio[k] < 0.999 || ratio[k] > 1.001 {
			t.Errorf("%s: %s target %d / online %d = %.4f, want 0.999..1.001", what, k, tg[k], on[k], ratio[k])
		}
	}
	if n := tg["Access_denied_errors"]; n != 0 {
		t.Errorf("%s: the target refused %d logins", what, n)
	}
}

// TestCopyMySQL replays MySQL sessions through the protocol layer:
// sysbench with prepared statements and with text queries (Com_* within
// 0.1 %, no refused login), an ed25519 account, a session that logged in
// before the copier started (resumed with its address's latest login), and an
// account whose password in the copier's file is wrong (fate
// mysql_auth_failed, nothing of it replayed). The ledger names each
// session's user and statements online vs target.
func TestCopyMySQL(t *testing.T) {
	m := newMySQLRig(t)
	ledgerPath := filepath.Join(m.dir, "ledger.jsonl")
	// A session the copier will not see begin.
	pre := openMariaDBClient(t, m.Lab, m.dir, m.pair.Online.Addr, sbAccount)
	pre.send(t, "INSERT INTO marks VALUES ('pre-0');")
	if !waitMark(t, m.pair.Online, "pre-0") {
		t.Fatalf("the client's first insert did not reach the online server\n%s", lab.LogTail(pre.log, 5))
	}
	m.startCopier("mysql", fmt.Sprintf("ledger = %q", ledgerPath))

	for _, mode := range []string{"auto", "disable"} {
		t.Run("sysbench ps-mode "+mode, func(t *testing.T) {
			on0, tg0 := m.status()
			m.sysbench(mode, 3)
			on, tg := m.settle(on0, tg0, "Com_commit")
			checkComs(t, "ps-mode "+mode, on, tg)
			key := "Com_stmt_execute"
			if mode == "disable" {
				if on[key] != 0 {
					t.Errorf("ps-mode disable executed %d prepared statements", on[key])
				}
			} else if on[key] < 100 {
				t.Errorf("ps-mode auto executed only %d prepared statements", on[key])
			}
		})
	}
	t.Run("ed25519", func(t *testing.T) {
		_, tg0 := m.status()
		mariadbOnce(t, m.Lab, m.dir, m.pair.Online.Addr, edAccount, "INSERT INTO marks VALUES ('ed-1'); SELECT COUNT(*) FROM marks;")
		if !waitMark(t, m.pair.Target, "ed-1") {
			t.Errorf("the ed25519 session's insert did not reach the target")
		}
		if _, tg := m.status(); tg["Access_denied_errors"] != tg0["Access_denied_errors"] {
			t.Errorf("the target refused the ed25519 login")
		}
	})
	t.Run("session opened before the copier", func(t *testing.T) {
		pre.send(t, "INSERT INTO marks VALUES ('pre-1'); SELECT COUNT(*) FROM marks;")
		if !waitMark(t, m.pair.Target, "pre-1") {
			t.Errorf("the resumed session's insert did not reach the target")
		}
		if hasMark(t, m.pair.Target, "pre-0") {
			t.Errorf("the target has the insert sent before the copier started")
		}
		if v, _ := metric(m.copierMetrics(), `replaygw_mysql_sessions_total{start="resumed"}`); v < 1 {
			t.Errorf("no resumed session counted")
		}
	})
	t.Run("wrong password in the config", func(t *testing.T) {
		_, tg0 := m.status()
		mariadbOnce(t, m.Lab, m.dir, m.pair.Online.Addr, badAccount, "INSERT INTO marks VALUES ('bad-1');")
		lab.WaitFor(t, 8*time.Second, func() bool {
			v, _ := metric(m.copierMetrics(), `replaygw_mysql_fates_total{code="mysql_auth_failed"}`)
			return v >= 1
		})
		time.Sleep(500 * time.Millisecond)
		if !hasMark(t, m.pair.Online, "bad-1") || hasMark(t, m.pair.Target, "bad-1") {
			t.Errorf("bad-1 online %v, target %v: want online only", hasMark(t, m.pair.Online, "bad-1"), hasMark(t, m.pair.Target, "bad-1"))
		}
		_, tg := m.status()
		if d := tg["Access_denied_errors"] - tg0["Access_denied_errors"]; d != 1 {
			t.Errorf("the target refused %d logins, want the one with the wrong password", d)
		}
		if d := tg["Com_insert"] - tg0["Com_insert"]; d != 0 {
			t.Errorf("%d inserts replayed after the refused login", d)
		}
	})
	pre.close()
	met := m.copierMetrics()
	m.stopCopier() // ends the sessions: their ledger lines are written
	defer func() {
		if t.Failed() {
			logMySQLMetrics(t, met)
		}
	}()
	checkMySQLLedger(t, ledgerPath)
	on, _ := metric(met, `replaygw_mysql_statements_total{side="online"}`)
	tg, _ := metric(met, `replaygw_mysql_statements_total{side="target"}`)
	t.Logf("copier: mysql statements online %.0f target %.0f, fates %v", on, tg, mysqlFates(met))
	if on < 1000 || tg < on*0.999 {
		t.Errorf("mysql statements online %.0f, target %.0f", on, tg)
	}
}

// mysqlFates returns the copier's nonzero mysql fate counters by code.
func mysqlFates(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, `replaygw_mysql_fates_total{code="`); ok && v > 0 {
			out[strings.TrimSuffix(rest, `"}`)] = v
		}
	}
	return out
}

// checkMySQLLedger reads the ledger: sysbench's sessions (user sbtest)
// have as many statements answered by the target as online, the wrong
// password's session has fate mysql_auth_failed and none.
func checkMySQLLedger(t *testing.T, path string) {
	t.Helper()
	var entries []ledger.Entry
	lab.WaitFor(t, 5*time.Second, func() bool {
		entries, _ = readLedger(path) // a line being written: read again
		for _, e := range entries {
			if e.User == badAccount.User {
				return true
			}
		}
		return false
	})
	users := map[string]int{}
	for _, e := range entries {
		if e.User == "" {
			continue
		}
		users[e.User]++
		switch {
		case e.User == badAccount.User:
			if e.Fate != "mysql_auth_failed" || e.StatementsTarget != 0 {
				t.Errorf("ledger: wrong-password session fate %q, target statements %d", e.Fate, e.StatementsTarget)
			}
		case e.Statements > 10 && e.StatementsTarget < e.StatementsOnline:
			t.Errorf("ledger: %s session: statements %d, online %d, target %d", e.User, e.Statements, e.StatementsOnline, e.StatementsTarget)
		}
	}
	t.Logf("ledger: %d lines, MySQL sessions by user %v", len(entries), users)
	// sysbench's two threads in each of its two runs; the ed25519 client,
	// and the resumed session, which logs in with its client address's
	// latest login (the ed25519 client's, from the same host).
	if users[sbAccount.User] != 4 || users[edAccount.User] != 2 || users[badAccount.User] != 1 {
		t.Errorf("ledger: MySQL sessions by user %v, want 4 %s, 2 %s, 1 %s", users, sbAccount.User, edAccount.User, badAccount.User)
	}
}

// logMySQLMetrics logs a scrape's nonzero engine, protocol and mysql
// counters (for a failed test).
func logMySQLMetrics(t *testing.T, met map[string]float64) {
	t.Helper()
	var names []string
	for k, v := range met {
		if v != 0 && (strings.HasPrefix(k, "replaygw_mysql_") || strings.HasPrefix(k, "replaygw_engine_") || strings.Contains(k, "proto")) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "\n  %s %g", k, met[k])
	}
	t.Logf("copier metrics:%s", b.String())
}
