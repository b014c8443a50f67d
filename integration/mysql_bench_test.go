package integration

// The copier's CPU per MySQL statement with protocol = "mysql" against
// "tcp" on the same sysbench run (goal: at most 1.3x). RGW_BENCH=1;
// figures in docs/benchmarks.md.

import (
	"os"
	"testing"
	"time"
)

func TestBenchMySQL(t *testing.T) {
	if os.Getenv("RGW_BENCH") == "" {
		t.Skip("set RGW_BENCH=1 to run the MySQL copier benchmark")
	}
	m := newMySQLRig(t)
	cpu := map[string]float64{} // copier CPU nanoseconds per online statement
	for _, proto := range []string{"tcp", "mysql"} {
		m.startCopier(proto)
		on0, _ := m.status()
		m.sysbench("auto", 5)
		on1, _ := m.status()
		time.Sleep(time.Second)
		p := m.CP
		m.stopCopier()
		user, sys := p.CPU()
		stmts := on1["Questions"] - on0["Questions"]
		if stmts == 0 {
			t.Fatalf("%s: no statement online", proto)
		}
		cpu[proto] = float64(user+sys) / float64(stmts)
		t.Logf("protocol %s: %d statements online, copier CPU user %v sys %v = %.2f µs per statement",
			proto, stmts, user, sys, cpu[proto]/1e3)
	}
	ratio := cpu["mysql"] / cpu["tcp"]
	t.Logf("copier CPU per statement mysql/tcp = %.2fx (goal <= 1.3x)", ratio)
	if ratio > 1.3 {
		t.Errorf("mysql costs %.2fx the copier CPU of tcp per statement, goal 1.3x", ratio)
	}
}
