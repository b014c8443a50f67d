package mysql

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Users holds the target's password of each user the replay logs in as.
type Users struct {
	m map[string]string
}

// NewUsers returns the inline map as Users; empty user names are refused.
func NewUsers(m map[string]string) (*Users, error) {
	u := &Users{m: make(map[string]string, len(m))}
	for k, v := range m {
		if k == "" {
			return nil, fmt.Errorf("mysql users: empty user name")
		}
		u.m[k] = v
	}
	return u, nil
}

// Password is user's password on the target.
func (u *Users) Password(user string) (string, bool) {
	if u == nil {
		return "", false
	}
	p, ok := u.m[user]
	return p, ok
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.m) }

// LoadUsers reads a users file (see ParseUsers).
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mysql users: %w", err)
	}
	defer f.Close()
	return ParseUsers(path, f)
}

// ParseUsers reads "user password" lines: the user is the first field, the
// password everything after the blanks that follow it (it may contain
// blanks; trailing blanks are cut). Blank lines and lines starting with #
// are skipped. A user without a password, or listed twice, is an error
// naming name:line.
func ParseUsers(name string, r io.Reader) (*Users, error) {
	u := &Users{m: make(map[string]string)}
	first := make(map[string]int)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<16)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimRight(sc.Text(), " \t\r")
		lead := strings.TrimLeft(t, " \t")
		if lead == "" || lead[0] == '#' {
			continue
		}
		user, pw, ok := strings.Cut(strings.Map(tabToSpace, lead), " ")
		if !ok || strings.TrimLeft(pw, " ") == "" {
			return nil, fmt.Errorf("%s:%d: user %q has no password", name, line, user)
		}
		pw = lead[len(user):]
		pw = strings.TrimLeft(pw, " \t")
		if l, dup := first[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q already listed on line %d", name, line, user, l)
		}
		first[user] = line
		u.m[user] = pw
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return u, nil
}

func tabToSpace(r rune) rune {
	if r == '\t' {
		return ' '
	}
	return r
}
