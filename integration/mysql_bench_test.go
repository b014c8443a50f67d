package integration

// The copier's CPU per MySQL statement with protocol = "mysql" against
// protocol = "tcp" on the same sysbench run (goal: at most 1.3x), RGW_BENCH=1;
// figures in docs/benchmarks.md.
//
// Two tcp runs: "tcp" as a user would first try it, with the password
// account, whose replayed logins the target refuses (it closes the
// connection, so the copier sends nothing after the login); and
// "tcp-carried", with an account without a password, whose replayed
// logins the target accepts, and no_pacing, so that the copier sends
// every statement as captured like the mysql run does (the ack heuristic
// would wait for each answer to come back through the gateway and fall
// behind). Only the second one carries the same bytes, and only with
// --db-ps-mode=disable: with prepared statements the target's statement
// ids are not the online server's, so its executes fail (0 commits).
// Each runs with prepared statements and with text queries.
//
//	RGW_BENCH=1 go test ./integration -run '^TestBenchMySQL$' -count=1 -v

import (
	"os"
	"testing"

	"github.com/replaygw/replaygw/lab"
)

func TestBenchMySQL(t *testing.T) {
	if os.Getenv("RGW_BENCH") == "" {
		t.Skip("set RGW_BENCH=1 to run the MySQL copier benchmark")
	}
	m := newMySQLRig(t)
	for _, ps := range []string{"auto", "disable"} {
		benchMySQLRuns(t, m, ps)
	}
}

// benchMySQLRuns runs the three copiers on sysbench with --db-ps-mode=ps.
func benchMySQLRuns(t *testing.T, m *mysqlRig, ps string) {
	cpu := map[string]float64{} // copier CPU nanoseconds per online statement
	for _, run := range []struct {
		name, proto string
		acct        lab.MySQLAccount
		extra       []string
	}{
		{"tcp", "tcp", sbAccount, nil},
		{"tcp-carried", "tcp", openAccount, []string{"no_pacing = true"}},
		{"mysql", "mysql", sbAccount, nil},
	} {
		m.startCopier(run.proto, run.extra...)
		on0, tg0 := m.status()
		m.sysbenchAs(run.acct, ps, 5)
		on, tg := m.settle(on0, tg0, "Com_commit") // the target may still be catching up
		if os.Getenv("RGW_BENCH_DEBUG") != "" {
			logMySQLMetrics(t, m.copierMetrics())
		}
		p := m.CP
		m.stopCopier()
		user, sys := p.CPU()
		stmts := on["Questions"]
		if stmts == 0 {
			t.Fatalf("%s: no statement online", run.name)
		}
		cpu[run.name] = float64(user+sys) / float64(stmts)
		t.Logf("ps-mode %-7s %-11s: %d statements online, %d commits online, %d on the target; copier CPU user %v sys %v = %.2f µs per statement",
			ps, run.name, stmts, on["Com_commit"], tg["Com_commit"], user, sys, cpu[run.name]/1e3)
	}
	t.Logf("ps-mode %s: copier CPU per statement: mysql/tcp = %.2fx, mysql/tcp-carried = %.2fx (goal <= 1.3x)",
		ps, cpu["mysql"]/cpu["tcp"], cpu["mysql"]/cpu["tcp-carried"])
}
