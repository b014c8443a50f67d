package configs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMySQLChecks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("users", "# accounts\napp  app pass\nreport pw2\n", 0o600)
	open := write("users-open", "app pw\n", 0o644)
	noPw := write("users-nopw", "app pw\n\nbob\n", 0o600)
	empty := write("users-empty", "# nobody\n", 0o600)
	// copyOK's route ends on line 7; protocol is line 8, [copy.mysql] line 9.
	route := copyOK + "protocol = \"mysql\"\n"
	section := func(lines string) string { return route + "[copy.mysql]\n" + lines }
	runProblemCases(t, []problemCase{
		{"tcp default", copyOK, 0, "", "", false},
		{"tcp explicit", copyOK + "protocol = \"tcp\"\n", 0, "", "", false},
		{"typo", copyOK + "protocol = \"mysq\"\n", 8, "copy.route[0].protocol", `"mysq" is not one of tcp, http, redis, mysql; did you mean "mysql"?`, false},
		{"case", copyOK + "protocol = \"MySQL\"\n", 8, "copy.route[0].protocol", `did you mean "mysql"?`, false},
		{"mysql without section", route, 8, "copy.route[0].protocol", `"mysql" needs the target's passwords: add [copy.mysql] with users_file or users`, false},
		{"mysql without users", section("default_user = \"\"\n"), 9, "copy.mysql", "no users: set users_file or users", false},
		{"users file", section("users_file = \"" + good + "\"\n"), 0, "", "", false},
		{"inline users", section("users = [\"app pw\", \"report another pw\"]\n"), 0, "", "", false},
		{"missing file", section("users_file = \"" + filepath.Join(dir, "nope") + "\"\n"), 10, "copy.mysql.users_file", "no such file or directory", false},
		{"user without password", section("users_file = \"" + noPw + "\"\n"), 10, "copy.mysql.users_file", noPw + `:3: user "bob" has no password`, false},
		{"empty file", section("users_file = \"" + empty + "\"\n"), 10, "copy.mysql.users_file", "lists no user", false},
		{"readable file", section("users_file = \"" + open + "\"\n"), 10, "copy.mysql.users_file", "readable by others (mode 0644)", true},
		{"inline no password", section("users = [\"app pw\", \"bob\"]\n"), 10, "copy.mysql.users[1]", `user "bob" has no password; write "user password"`, false},
		{"inline twice", section("users = [\"app pw\", \"app other\"]\n"), 10, "copy.mysql.users[1]", `user "app" is listed twice`, false},
		{"inline and file", section("users_file = \"" + good + "\"\nusers = [\"report x\"]\n"), 11, "copy.mysql.users[0]", `user "report" is also in users_file`, false},
		{"default user unknown", section("users = [\"app pw\"]\ndefault_user = \"root\"\n"), 11, "copy.mysql.default_user", `"root" has no password`, false},
		{"default user", section("users = [\"app pw\"]\ndefault_user = \"app\"\ndefault_schema = \"shop\"\n"), 0, "", "", false},
		{"schema without user", section("users = [\"app pw\"]\ndefault_schema = \"shop\"\n"), 11, "copy.mysql.default_schema", "without default_user", false},
		{"saved range", section("users = [\"app pw\"]\nsaved_logins = -1\n"), 11, "copy.mysql.saved_logins", "out of range 0..4194304", false},
		{"section unused", copyOK + "[copy.mysql]\nusers = [\"app pw\"]\n", 8, "copy.mysql", "no [[copy.route]] has protocol = \"mysql\"", true},
		{"unknown key", section("user = [\"app pw\"]\n"), 10, "copy.mysql.user", `did you mean "users"?`, false},
	})
}

// The parsed section: passwords from the file and inline, defaults of
// the bounds, explicit zeros kept.
func TestMySQLParsed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte("app  pass with blanks \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := copyOK + "protocol = \"mysql\"\n[copy.mysql]\nusers_file = \"" + p + "\"\nusers = [\"report\tpw2\"]\nsaved_statements = 0\n"
	c, err := Parse([]byte(text), "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Copy.MySQL
	if pw, _ := m.Passwords.Password("app"); pw != "pass with blanks" {
		t.Errorf("app password %q", pw)
	}
	if pw, _ := m.Passwords.Password("report"); pw != "pw2" || m.Passwords.Len() != 2 {
		t.Errorf("report password %q, %d users", pw, m.Passwords.Len())
	}
	if m.SavedLogins != DefaultSavedLogins || m.SavedStatements != 0 {
		t.Errorf("saved logins %d statements %d", m.SavedLogins, m.SavedStatements)
	}
	if c.Copy.Routes[0].Protocol != ProtocolMySQL {
		t.Errorf("protocol %q", c.Copy.Routes[0].Protocol)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
