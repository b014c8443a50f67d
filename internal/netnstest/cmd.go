package netnstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireRoot skips the test unless it runs as root with iproute2
// installed, the two things every namespace test needs.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
}

// Sh runs a command (args[0] with args[1:]) and returns its combined
// output; a failure fails the test with the output.
func Sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec runs a command inside namespace ns (ip netns exec) like Sh.
func Exec(t testing.TB, ns string, args ...string) string {
	t.Helper()
	return Sh(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
}
