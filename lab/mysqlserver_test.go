package lab

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The lab server against the real mariadb client on loopback: native
// logins, caching_sha2 full auth then fast auth, a refused password, and
// the queries recorded.
func TestMySQLServerWithMariaDBClient(t *testing.T) {
	if _, err := os.Stat(MariaDBClient); err != nil {
		t.Skipf("%s is missing (install mariadb-client)", MariaDBClient)
	}
	users := map[string]string{"app": "app pw"}
	for _, plugin := range []string{PluginNative, PluginSHA2} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewMySQLServer(ln, plugin, users)
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
		run := func(pw, query string) (string, error) {
			out, err := exec.Command(MariaDBClient, "--no-defaults", "-h", "127.0.0.1", "-P", strconv.Itoa(int(port)),
				"-u", "app", "-p"+pw, "--batch", "--skip-column-names", "-e", query).CombinedOutput()
			return string(out), err
		}
		for i, q := range []string{"SELECT 1", "UPDATE t SET a = 2"} {
			out, err := run("app pw", q)
			if err != nil {
				t.Fatalf("%s login %d: %v: %s", plugin, i, err, out)
			}
			if i == 0 && strings.TrimSpace(out) != "lab" {
				t.Errorf("%s: SELECT answered %q", plugin, out)
			}
		}
		if out, err := run("wrong", "SELECT 2"); err == nil || !strings.Contains(out, "Access denied") {
			t.Errorf("%s: wrong password: %v %s", plugin, err, out)
		}
		if q := s.Queries(); len(q) != 2 || q[0] != "SELECT 1" || q[1] != "UPDATE t SET a = 2" {
			t.Errorf("%s: queries %q", plugin, q)
		}
		st := &s.Stats
		switch plugin {
		case PluginNative:
			if st.Native.Load() != 2 || st.Denied.Load() != 1 {
				t.Errorf("native: %d logins, %d denied", st.Native.Load(), st.Denied.Load())
			}
		case PluginSHA2:
			// Debian's client sends the full-auth password in clear.
			if st.ClearAuth.Load() != 1 || st.FastAuth.Load() != 1 || st.Denied.Load() != 1 || st.Switches.Load() != 0 {
				t.Errorf("sha2: full %d clear %d fast %d denied %d switches %d", st.FullAuth.Load(), st.ClearAuth.Load(),
					st.FastAuth.Load(), st.Denied.Load(), st.Switches.Load())
			}
		}
		s.Close()
	}
}
