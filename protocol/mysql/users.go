package mysql

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
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

// Names lists the users, sorted.
func (u *Users) Names() []string {
	if u == nil {
		return nil
	}
	names := make([]string, 0, len(u.m))
	for k := range u.m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
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
		user, pw, ok, err := ParseUserLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if !ok {
			continue
		}
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

// ParseUserLine reads one "user password" line (see ParseUsers); ok is
// false for a blank or comment line. The error names the user, never the
// password.
func ParseUserLine(text string) (user, password string, ok bool, err error) {
	t := strings.TrimRight(text, " \t\r")
	lead := strings.TrimLeft(t, " \t")
	if lead == "" || lead[0] == '#' {
		return "", "", false, nil
	}
	user, pw, found := strings.Cut(strings.Map(tabToSpace, lead), " ")
	if !found || strings.TrimLeft(pw, " ") == "" {
		return "", "", false, fmt.Errorf("user %q has no password", user)
	}
	return user, strings.TrimLeft(lead[len(user):], " \t"), true, nil
}

// Add sets user's password; false when user is already there (kept).
func (u *Users) Add(user, password string) bool {
	if _, dup := u.m[user]; dup {
		return false
	}
	if u.m == nil {
		u.m = make(map[string]string)
	}
	u.m[user] = password
	return true
}

func tabToSpace(r rune) rune {
	if r == '\t' {
		return ' '
	}
	return r
}
