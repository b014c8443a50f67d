package netns

import (
	"context"
	"os"
	"os/exec"
	"strings"
)

// Command returns an unstarted command that runs args in namespace ns via
// `ip netns exec` (which execs the program: the child's pid is the
// program's).
func Command(ns string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// CommandContext is Command with a context that kills the command.
func CommandContext(ctx context.Context, ns string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// RequireRoot skips the test unless it runs as root with iproute2
// installed, the two things every namespace test needs.
func RequireRoot(t TB) {
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
func Sh(t TB, args ...string) string {
	t.Helper()
	return run(t, exec.Command(args[0], args[1:]...))
}

// Exec runs a command inside namespace ns (ip netns exec) like Sh.
func Exec(t TB, ns string, args ...string) string {
	t.Helper()
	return run(t, Command(ns, args...))
}

func run(t TB, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}
