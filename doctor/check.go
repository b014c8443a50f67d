// Package doctor checks a host's setup for its replaygw role and says, for
// every problem, the exact command that fixes it: privileges, reverse-path
// filtering, the gateway's black-hole path (TUN, pool routes, ingress
// redirect), forwarding leaks, conntrack headroom, MTU/MSS, the control
// channel and token, and an active end-to-end probe (one SYN from the
// client pool to each target, answered through the gateway).
//
// Every check runs on the calling goroutine's OS thread (sockets, netlink,
// /proc/sys), so a caller that has entered a network namespace on a locked
// thread checks that namespace.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Verdicts.
const (
	Pass = "PASS"
	Warn = "WARN"
	Fail = "FAIL"
)

// Check is one verdict.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // PASS, WARN or FAIL
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // command(s) that fix a WARN or FAIL
}

func pass(name, format string, a ...any) Check {
	return Check{Name: name, Status: Pass, Detail: fmt.Sprintf(format, a...)}
}

func warn(name, fix, format string, a ...any) Check {
	return Check{Name: name, Status: Warn, Detail: fmt.Sprintf(format, a...), Fix: fix}
}

func fail(name, fix, format string, a ...any) Check {
	return Check{Name: name, Status: Fail, Detail: fmt.Sprintf(format, a...), Fix: fix}
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Find returns the first check whose name starts with prefix.
func Find(checks []Check, prefix string) (Check, bool) {
	for _, c := range checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c, true
		}
	}
	return Check{}, false
}

// Print writes one aligned line per check, with the fix indented below
// every WARN and FAIL, and a summary line.
func Print(w io.Writer, checks []Check) error {
	width := 0
	for _, c := range checks {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	var n [3]int
	for _, c := range checks {
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", c.Status, width, c.Name, c.Detail)
		switch c.Status {
		case Pass:
			n[0]++
		case Warn:
			n[1]++
		case Fail:
			n[2]++
		}
		if c.Fix != "" && c.Status != Pass {
			for _, line := range strings.Split(c.Fix, "\n") {
				fmt.Fprintf(&b, "      %-*s  fix: %s\n", width, "", line)
			}
		}
	}
	fmt.Fprintf(&b, "%d passed, %d warnings, %d failed\n", n[0], n[1], n[2])
	_, err := io.WriteString(w, b.String())
	return err
}

// JSON writes the checks as a JSON array.
func JSON(w io.Writer, checks []Check) error {
	if checks == nil {
		checks = []Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(checks)
}
