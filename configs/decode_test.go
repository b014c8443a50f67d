package configs

import (
	"strings"
	"testing"
)

// Every type error is reported, in file order, the same on every run.
func TestTypeErrorsAllInOrder(t *testing.T) {
	text := `[gateway]
pools = "10.88.0.0/24"
token = 5
queues = "four"
hold_early = 2.5
lease_ttl = true
[copy]
interface = "eth0"
copies = "2"
memory_limit = "lots"
idle_timeout = "soon"
[copy.route]
from = "10.0.0.20:80"
`
	want := []string{
		`t.toml:2: gateway.pools: must be a list, e.g. pools = ["10.88.0.0/24"], not a string`,
		`t.toml:3: gateway.token: must be a string in quotes`,
		`t.toml:4: gateway.queues: must be an integer, not a string ("four")`,
		`t.toml:5: gateway.hold_early: duration "2.5" has no unit`,
		`t.toml:6: gateway.lease_ttl: must be a string in quotes (e.g. "2s" or "64MiB"), not a boolean (true)`,
		`t.toml:9: copy.copies: must be an integer, not a string ("2")`,
		`t.toml:10: copy.memory_limit: invalid size "lots"`,
		`t.toml:11: copy.idle_timeout: invalid duration "soon"`,
		`t.toml:12: copy.route: must be a list of tables: use [[copy.route]]`,
	}
	var first string
	for run := range 20 {
		_, err := Parse([]byte(text), "t.toml")
		if err == nil {
			t.Fatal("no error")
		}
		if run == 0 {
			first = err.Error()
			lines := strings.Split(first, "\n")
			if len(lines) != len(want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		} else if err.Error() != first {
			t.Fatalf("run %d differs:\n%v\nfirst:\n%v", run, err, first)
		}
	}
}
