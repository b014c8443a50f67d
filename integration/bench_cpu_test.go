package integration

// CPU accounting for the lab benchmark: per process from /proc/<pid>/stat
// and for the whole machine from /proc/stat.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc (100 on every
// Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is CPU time split into user and system.
type cpuTime struct{ user, sys time.Duration }

func (c cpuTime) sub(o cpuTime) cpuTime { return cpuTime{c.user - o.user, c.sys - o.sys} }
func (c cpuTime) total() time.Duration  { return c.user + c.sys }
func (c cpuTime) String() string {
	return fmt.Sprintf("%.2fs (%.2f+%.2f)", c.total().Seconds(), c.user.Seconds(), c.sys.Seconds())
}

// procCPU returns the user and system CPU time of process pid (all
// threads; 0 = this process).
func procCPU(pid int) (cpuTime, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuTime{}, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTime{}, fmt.Errorf("cpu of %d: bad stat %q", pid, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime is field 14
	if len(f) < 13 {
		return cpuTime{}, fmt.Errorf("cpu of %d: short stat %q", pid, s)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTime{}, fmt.Errorf("cpu of %d: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return cpuTime{time.Duration(u) * clockTick, time.Duration(st) * clockTick}, nil
}

// procSwitches returns the context switches of process pid so far, over
// all its threads (voluntary and not): close to its wake-ups, and far
// less noisy than its CPU time on a shared machine. Threads that have
// ended are not counted.
func procSwitches(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("switches of %d: %w", pid, err)
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "voluntary_ctxt_switches" && k != "nonvoluntary_ctxt_switches") {
				continue
			}
			c, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return 0, fmt.Errorf("switches of %d: %s: %w", pid, line, err)
			}
			n += c
		}
	}
	return n, nil
}

func mustSwitches(t interface{ Fatal(...any) }, pid int) int {
	n, err := procSwitches(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// machineCPU is the busy CPU time of the whole machine (every CPU, every
// process and kernel thread, interrupts included) and the wall-clock CPU
// time available, from the first line of /proc/stat.
type machineCPU struct{ busy, all time.Duration }

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, fmt.Errorf("machine cpu: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("machine cpu: bad first line %q", line)
	}
	var m machineCPU
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("machine cpu: field %d %q: %w", i+1, s, err)
		}
		d := time.Duration(v) * clockTick
		m.all += d
		if i != 3 && i != 4 && i != 7 { // idle, iowait and steal are not work
			m.busy += d
		}
	}
	return m, nil
}

func (m machineCPU) sub(o machineCPU) machineCPU { return machineCPU{m.busy - o.busy, m.all - o.all} }
