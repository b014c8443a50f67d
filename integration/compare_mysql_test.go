package integration

// The comparison lab for MySQL (issue 13): Debian's MariaDB online and on
// the target with the same accounts and data, except for differences made
// on the target only - rows changed and one missing, a table missing, a
// table with an extra column, a counter table without two of its rows.
// One client session (go-sql-driver from the client host) runs a fixed
// list of unique statements through `replaygw copy` (protocol = "mysql",
// [compare] on); `replaygw report --json` of the gateway's store must
// count exactly the exchanges, differences, kinds and endpoints the list
// implies.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/replaygw/replaygw/lab"
	"github.com/replaygw/replaygw/report"
)

// The tables of both servers, then the target's differences.
const (
	cmpMySQLSchema = `CREATE TABLE sbtest.cmp_items (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL, hits INT NOT NULL DEFAULT 0);
INSERT INTO sbtest.cmp_items (id, v) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) SELECT n, CONCAT('item-', n) FROM s;
CREATE TABLE sbtest.cmp_gone (id INT PRIMARY KEY); INSERT INTO sbtest.cmp_gone VALUES (1), (2), (3);
CREATE TABLE sbtest.cmp_wide (id INT PRIMARY KEY, a INT NOT NULL); INSERT INTO sbtest.cmp_wide VALUES (1, 10), (2, 20), (3, 30), (4, 40);
CREATE TABLE sbtest.cmp_named (id INT PRIMARY KEY, a INT NOT NULL); INSERT INTO sbtest.cmp_named VALUES (1, 10), (2, 20), (3, 30);`
	cmpMySQLTarget = `UPDATE sbtest.cmp_items SET v = CONCAT('changed-', id) WHERE id % 10 = 0;
DELETE FROM sbtest.cmp_items WHERE id = 55;
DROP TABLE sbtest.cmp_gone;
ALTER TABLE sbtest.cmp_wide ADD COLUMN b INT NOT NULL DEFAULT 0;
ALTER TABLE sbtest.cmp_named CHANGE a b INT NOT NULL;`
)

// cmpStmt is one statement of the client's list and what the report must
// make of it.
type cmpStmt struct {
	sql, key string
	query    bool   // a result set online (else Exec)
	field    string // the one differing field ("body digest"), "" when alike
	onErr    bool   // an ERR online
	tgErr    bool   // an ERR on the target
	// args: a prepared statement (COM_STMT_PREPARE, then COM_STMT_EXECUTE
	// with args - the one that may differ - and COM_STMT_CLOSE).
	args []any
}

// exchanges adds to w the exchanges s makes.
func (s cmpStmt) exchanges(w *cmpWant) {
	if s.args == nil {
		w.add(s.key, s.field, s.onErr, s.tgErr)
		return
	}
	w.add(s.key, "", false, false) // the same statement prepared on both
	w.add("stmt_execute", s.field, s.onErr, s.tgErr)
	w.add("stmt_close", "", false, false)
}

// cmpMySQLStatements is the client's list, in order.
func cmpMySQLStatements() []cmpStmt {
	var l []cmpStmt
	// Every 10th row changed on the target (same row count, another
	// digest) and row 55 missing (one row vs none).
	for k := 1; k <= 100; k++ {
		s := cmpStmt{sql: fmt.Sprintf("SELECT id, v FROM cmp_items WHERE id = %d", k), key: "SELECT id, v FROM cmp_items WHERE id = ?", query: true}
		switch {
		case k == 55:
			s.field = "body rows"
		case k%10 == 0:
			s.field = "body digest"
		}
		l = append(l, s)
	}
	// Affected rows: 1 vs 0 for the missing row.
	for k := 51; k <= 60; k++ {
		s := cmpStmt{sql: fmt.Sprintf("UPDATE cmp_items SET hits = hits + 1 WHERE id = %d", k), key: "UPDATE cmp_items SET hits = hits + ? WHERE id = ?"}
		if k == 55 {
			s.field = "body affected_rows"
		}
		l = append(l, s)
	}
	// A table missing on the target: rows vs ERR 1146.
	for k := 1; k <= 5; k++ {
		l = append(l, cmpStmt{sql: fmt.Sprintf("SELECT id FROM cmp_gone WHERE id = %d", k), key: "SELECT id FROM cmp_gone WHERE id = ?", query: true, field: "status class", tgErr: true})
	}
	// An extra column on the target: 2 vs 3 columns.
	for k := 1; k <= 4; k++ {
		l = append(l, cmpStmt{sql: fmt.Sprintf("SELECT * FROM cmp_wide WHERE id = %d", k), key: "SELECT * FROM cmp_wide WHERE id = ?", query: true, field: "headers columns"})
	}
	// A column renamed on the target: the same count and rows, another
	// definition.
	for k := 1; k <= 3; k++ {
		l = append(l, cmpStmt{sql: fmt.Sprintf("SELECT * FROM cmp_named WHERE id = %d", k), key: "SELECT * FROM cmp_named WHERE id = ?", query: true, field: "headers column_defs"})
	}
	// The same error on both: alike.
	for k := 1; k <= 3; k++ {
		l = append(l, cmpStmt{sql: fmt.Sprintf("SELECT v FROM cmp_nowhere WHERE id = %d", k), key: "SELECT v FROM cmp_nowhere WHERE id = ?", query: true, onErr: true, tgErr: true})
	}
	// The binary protocol: every 10th row changed (row 10 here).
	for k := 1; k <= 10; k++ {
		s := cmpStmt{sql: "SELECT v, id FROM cmp_items WHERE id = ?", key: "SELECT v, id FROM cmp_items WHERE id = ?", query: true, args: []any{k}}
		if k == 10 {
			s.field = "body digest"
		}
		l = append(l, s)
	}
	for k := 1; k <= 5; k++ {
		l = append(l, cmpStmt{sql: fmt.Sprintf("INSERT INTO marks VALUES ('cmp-%d')", k), key: "INSERT INTO marks VALUES (?)"})
	}
	return l
}

// cmpMySQLSessionEnds are the exchanges of the session besides its
// statements: the login and COM_QUIT, alike on both servers.
var cmpMySQLSessionEnds = []string{"login", "quit"}

func TestCompareMySQL(t *testing.T) {
	m := newMySQLRig(t)
	ctx := context.Background()
	for _, s := range []*lab.MariaDB{m.pair.Online, m.pair.Target} {
		if _, err := s.SQL(ctx, cmpMySQLSchema); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.pair.Target.SQL(ctx, cmpMySQLTarget); err != nil {
		t.Fatal(err)
	}
	// The rig's gateway again, comparing into store.
	store := filepath.Join(m.dir, "compare")
	section := compareSection(store)
	if err := m.GW.Stop(10 * time.Second); err != nil {
		t.Fatalf("gateway: %v", err)
	}
	startGatewayWith(m.copyRig, section)
	m.startComparingCopier(section)

	stmts := cmpMySQLStatements()
	m.runStatements(stmts)
	last := fmt.Sprintf("cmp-%d", 5)
	if !waitMark(t, m.pair.Target, last) {
		t.Fatalf("the client's last insert (%s) did not reach the target", last)
	}
	w := newCmpWant()
	for _, s := range stmts {
		s.exchanges(w)
	}
	for _, k := range cmpMySQLSessionEnds {
		w.add(k, "", false, false)
	}
	want := w.exchanges
	sum, met := m.compareReport(store, want)
	defer func() {
		if t.Failed() {
			js, _ := json.MarshalIndent(sum, "", " ")
			t.Logf("report: %s", js)
		}
	}()

	w.check(t, sum)
	// Both sides' answers are timed, commands held for the target's login
	// included (they keep their capture time); COM_QUIT and COM_STMT_CLOSE
	// have none.
	answered := want - w.endpoints["quit"][0] - w.endpoints["stmt_close"][0]
	for _, side := range []string{"online", "target"} {
		if n, _ := metric(met, "replaygw_compare_"+side+"_response_seconds_count"); int64(n) != answered {
			t.Errorf("%s responses timed %.0f, want %d (all but COM_QUIT's and COM_STMT_CLOSE's)", side, n, answered)
		}
	}
}

// startComparingCopier starts `replaygw copy` with the demo's HTTP route
// (the readiness probe, not compared) and the MySQL route, both roles'
// [compare] section being section.
func (m *mysqlRig) startComparingCopier(section string) {
	m.t.Helper()
	dc := lab.NewDemoConfig(m.Lab)
	m.copyRig.startCopier(copierConf{
		Routes:     [][2]netip.AddrPort{{dc.From, dc.To}, {m.pair.Online.Addr, m.pair.Target.Addr}},
		Protocols:  []string{"", "mysql"},
		RouteLines: [][]string{{"compare = false"}},
		Extra: []string{"[copy.mysql]", fmt.Sprintf("users_file = %q", m.users),
			fmt.Sprintf("default_user = %q", sbAccount.User), fmt.Sprintf("default_schema = %q", mysqlDB)},
		Sections: []string{section},
	}, true)
}

// runStatements runs stmts in one session from the client host to the
// online server (text protocol), checking production's answers against
// the list.
func (m *mysqlRig) runStatements(stmts []cmpStmt) {
	t := m.t
	t.Helper()
	d, err := m.Lab.Dialer(lab.Client)
	if err != nil {
		t.Fatal(err)
	}
	netName := "lab-" + m.Lab.Name
	gomysql.RegisterDialContext(netName, func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	})
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = sbAccount.User, sbAccount.Password, netName, m.pair.Online.Addr.String(), mysqlDB
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 5*time.Second, 5*time.Second
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if s.query {
			err = queryAll(ctx, c, s.sql, s.args...)
		} else {
			_, err = c.ExecContext(ctx, s.sql)
		}
		if (err != nil) != s.onErr {
			t.Fatalf("online: %s: %v (want an error: %v)", s.sql, err, s.onErr)
		}
	}
	if err := c.Close(); err != nil { // COM_QUIT
		t.Fatal(err)
	}
}

// queryAll runs q (prepared when it has args) and reads its rows.
func queryAll(ctx context.Context, c *sql.Conn, q string, args ...any) error {
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}

// compareReport waits (up to 10 s) until the gateway has compared want
// exchanges, stops the copier and the gateway (the store writes its
// counts) and returns the store's report and the gateway's last scrape.
func (r *copyRig) compareReport(store string, want int64) (*report.Summary, map[string]float64) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var m map[string]float64
	for {
		m = r.gatewayMetrics()
		v, _ := metric(m, "replaygw_compare_exchanges_total")
		if int64(v) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Logf("gateway compare counters: %s", compareCounters(m))
	if err := r.CP.Stop(10 * time.Second); err != nil {
		r.t.Errorf("copier: %v", err)
	}
	if err := r.GW.Stop(10 * time.Second); err != nil {
		r.t.Errorf("gateway: %v", err)
	}
	return cmpReport(r.t, r.Opts.Binary, store), m
}

// checkTimed fails the test unless the gateway timed online and target
// responses of that many exchanges (its latency histograms' counts): each
// request's own send and answer times, not a batch's.
func checkTimed(t *testing.T, m map[string]float64, online, target int64) {
	t.Helper()
	on, _ := metric(m, "replaygw_compare_online_response_seconds_count")
	tg, _ := metric(m, "replaygw_compare_target_response_seconds_count")
	if int64(on) != online || int64(tg) != target {
		t.Errorf("responses timed: online %.0f, target %.0f; want %d, %d", on, tg, online, target)
	}
}

// cmpWant is what a lab's report must count, summed over its list of
// requests.
type cmpWant struct {
	exchanges, differing, onErr, tgErr int64
	byKind                             map[string]int64
	fields                             map[string]int64
	endpoints                          map[string][2]int64 // key -> exchanges, differing
}

func newCmpWant() *cmpWant {
	return &cmpWant{byKind: map[string]int64{"status": 0, "headers": 0, "body": 0},
		fields: map[string]int64{}, endpoints: map[string][2]int64{}}
}

// add counts one request of endpoint key whose answers differ in field
// (its kind, a space and its name, or the kind alone; "" when alike), and
// which is an error answer online and on the target.
func (w *cmpWant) add(key, field string, onErr, tgErr bool) {
	w.exchanges++
	e := w.endpoints[key]
	e[0]++
	if field != "" {
		w.differing++
		w.fields[field]++
		w.byKind[strings.Fields(field)[0]]++
		e[1]++
	}
	w.endpoints[key] = e
	w.onErr, w.tgErr = w.onErr+b2i(onErr), w.tgErr+b2i(tgErr)
}

// check fails the test unless sum counts exactly what w does: nothing
// dropped, every exchange stored, no other field or endpoint.
func (w *cmpWant) check(t *testing.T, sum *report.Summary) {
	t.Helper()
	t.Logf("report: %d exchanges, %d differing, by kind %v, fields %v, errors online %d target %d, %d endpoints",
		sum.Exchanges, sum.Differing, sum.ByKind, sum.Fields, sum.Errors.Online, sum.Errors.Target, len(sum.Endpoints))
	if sum.Exchanges != w.exchanges || sum.Differing != w.differing {
		t.Errorf("exchanges %d, differing %d; want %d, %d", sum.Exchanges, sum.Differing, w.exchanges, w.differing)
	}
	for k, v := range w.byKind {
		if sum.ByKind[k] != v {
			t.Errorf("by_kind %s = %d, want %d", k, sum.ByKind[k], v)
		}
	}
	if sum.Errors.Online != w.onErr || sum.Errors.Target != w.tgErr {
		t.Errorf("errors online %d, target %d; want %d, %d", sum.Errors.Online, sum.Errors.Target, w.onErr, w.tgErr)
	}
	if sum.Dropped != 0 || sum.Capped != 0 || sum.Stored != w.exchanges {
		t.Errorf("dropped %d, capped %d, stored %d of %d", sum.Dropped, sum.Capped, sum.Stored, w.exchanges)
	}
	if len(sum.Fields) != len(w.fields) {
		t.Errorf("fields %v, want exactly %v", sum.Fields, w.fields)
	}
	for _, f := range sum.Fields {
		if w.fields[f.Field] != f.Count {
			t.Errorf("field %q differs %d times, want %d", f.Field, f.Count, w.fields[f.Field])
		}
	}
	if len(sum.Endpoints) != len(w.endpoints) {
		t.Errorf("%d endpoints, want %d", len(sum.Endpoints), len(w.endpoints))
	}
	for _, e := range sum.Endpoints {
		x, ok := w.endpoints[e.Key]
		switch {
		case !ok:
			t.Errorf("endpoint %q (%d exchanges) not expected", e.Key, e.Exchanges)
		case e.Exchanges != x[0] || e.Differing != x[1]:
			t.Errorf("endpoint %q: %d exchanges, %d differing; want %d, %d", e.Key, e.Exchanges, e.Differing, x[0], x[1])
		}
	}
}
