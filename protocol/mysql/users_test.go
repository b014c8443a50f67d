package mysql

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	u, err := ParseUsers("users", strings.NewReader(
		"# replay accounts\n\napp s3cret\n  report\tpass with spaces  \r\n#x y\nroot p#not-a-comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]string{"app": "s3cret", "report": "pass with spaces", "root": "p#not-a-comment"} {
		if got, ok := u.Password(user); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", user, got, ok, want)
		}
	}
	if u.Len() != 3 {
		t.Errorf("%d users", u.Len())
	}
	for _, tt := range []struct{ in, err string }{
		{"app\n", "users:1: user \"app\" has no password"},
		{"# c\napp   \n", "users:2: user \"app\" has no password"},
		{"a x\nb y\na z\n", "users:3: user \"a\" already listed on line 1"},
	} {
		if _, err := ParseUsers("users", strings.NewReader(tt.in)); err == nil || err.Error() != tt.err {
			t.Errorf("%q: error %v, want %s", tt.in, err, tt.err)
		}
	}
}

func TestLoadUsersAndInline(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mysql-users")
	if err := os.WriteFile(p, []byte("app pw\napp pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsers(p); err == nil || !strings.HasPrefix(err.Error(), p+":2:") {
		t.Errorf("error %v, want %s:2:", err, p)
	}
	if _, err := LoadUsers(p + ".missing"); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := NewUsers(map[string]string{"": "x"}); err == nil {
		t.Error("empty user name accepted")
	}
	u, err := NewUsers(map[string]string{"app": ""})
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := u.Password("app"); !ok || pw != "" {
		t.Error("inline empty password lost")
	}
	var none *Users
	if _, ok := none.Password("app"); ok {
		t.Error("nil Users knows a password")
	}
}
