package configs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/replaygw/replaygw/protocol/mysql"
)

// Route protocols: the application protocol a [[copy.route]] carries
// (copy.route[i].protocol). "tcp", the default, replays the bytes as
// captured.
const (
	ProtocolTCP   = "tcp"
	ProtocolHTTP  = "http"
	ProtocolRedis = "redis"
	ProtocolMySQL = "mysql"
)

// Protocols are the values of copy.route[i].protocol.
var Protocols = []string{ProtocolTCP, ProtocolHTTP, ProtocolRedis, ProtocolMySQL}

// Defaults and bounds of [copy.mysql].
const (
	DefaultSavedLogins     = 4096  // logins remembered for sessions resumed mid-stream
	DefaultSavedStatements = 65536 // prepared statement texts remembered for them
	MaxSaved               = 1 << 22
)

// MySQL is the [copy.mysql] section: what the routes with protocol =
// "mysql" need. A MySQL login cannot be replayed as captured (it is signed
// with the online server's scramble), so the copier logs in to the target
// itself with the passwords given here (docs/mysql.md).
type MySQL struct {
	// UsersFile holds the target's password of each user, one "user
	// password" per line (# comments); keep it mode 0600.
	UsersFile string `toml:"users_file"`
	// Users are more such lines inline, e.g. ["app app-test-password"].
	Users []string `toml:"users"`
	// DefaultUser and DefaultSchema log in a session that began before the
	// capture when no login of its client was seen; "" = such sessions
	// are not replayed (fate mysql_no_login).
	DefaultUser   string `toml:"default_user"`
	DefaultSchema string `toml:"default_schema"`
	// SavedLogins bounds the logins remembered per client address and user
	// (for resumed sessions); SavedStatements the prepared statement texts
	// remembered per client address and statement id. 0 = none.
	SavedLogins     int `toml:"saved_logins"`
	SavedStatements int `toml:"saved_statements"`

	// Passwords is UsersFile and Users together, filled by Load.
	Passwords *mysql.Users `toml:"-"`
}

// checkProtocols checks each route's protocol and the [copy.mysql]
// section the mysql routes need.
func (p *Copy) checkProtocols(ch *checker, dir string) {
	mysqlRoutes := 0
	for i := range p.Routes {
		r := &p.Routes[i]
		key := fmt.Sprintf("copy.route[%d].protocol", i)
		if r.Protocol == "" {
			r.Protocol = ProtocolTCP
		}
		ch.oneOf(key, r.Protocol, Protocols...)
		if r.Protocol == ProtocolMySQL {
			mysqlRoutes++
		}
	}
	m := p.MySQL
	if m == nil {
		for i, r := range p.Routes {
			if r.Protocol == ProtocolMySQL {
				ch.errf(fmt.Sprintf("copy.route[%d].protocol", i), "%q needs the target's passwords: add [copy.mysql] with users_file or users", r.Protocol)
			}
		}
		return
	}
	reported := m.check(ch, dir)
	switch {
	case mysqlRoutes == 0:
		ch.warnf("copy.mysql", "no [[copy.route]] has protocol = \"mysql\": the section is not used")
	case m.Passwords.Len() == 0 && !reported:
		ch.errf("copy.mysql", "no users: set users_file or users (\"user password\"), the accounts the replay logs in to the target with")
	}
}

// check checks the section and fills Passwords; reported says a problem
// with the users was reported already.
func (m *MySQL) check(ch *checker, dir string) (reported bool) {
	if m.SavedLogins == 0 && !ch.isDefined("copy.mysql.saved_logins") {
		m.SavedLogins = DefaultSavedLogins
	}
	if m.SavedStatements == 0 && !ch.isDefined("copy.mysql.saved_statements") {
		m.SavedStatements = DefaultSavedStatements
	}
	ch.intRange("copy.mysql.saved_logins", m.SavedLogins, 0, MaxSaved)
	ch.intRange("copy.mysql.saved_statements", m.SavedStatements, 0, MaxSaved)

	n := len(ch.errs)
	u, _ := mysql.NewUsers(nil)
	m.Passwords = u
	fileLine := map[string]bool{}
	if m.UsersFile != "" {
		if f, mode, err := loadUsersFile(m.UsersFile, dir); err != nil {
			ch.errf("copy.mysql.users_file", "%v", err)
		} else {
			for _, name := range f.Names() {
				pw, _ := f.Password(name)
				u.Add(name, pw)
				fileLine[name] = true
			}
			if mode&0o077 != 0 {
				ch.warnf("copy.mysql.users_file", "%q is readable by others (mode %04o): it holds passwords; chmod 600 it", m.UsersFile, mode)
			}
		}
	} else if ch.isDefined("copy.mysql.users_file") {
		ch.errf("copy.mysql.users_file", "empty: write a file path, or leave the key out")
	}
	for i, line := range m.Users {
		key := fmt.Sprintf("copy.mysql.users[%d]", i)
		user, pw, ok, err := mysql.ParseUserLine(line)
		switch {
		case err != nil:
			ch.errf(key, "%v; write \"user password\"", err)
		case !ok:
			ch.errf(key, "empty: write \"user password\"")
		case fileLine[user]:
			ch.errf(key, "user %q is also in users_file %q; list each user once", user, m.UsersFile)
		case !u.Add(user, pw):
			ch.errf(key, "user %q is listed twice", user)
		}
	}
	reported = len(ch.errs) > n
	if m.DefaultUser != "" {
		if _, ok := u.Password(m.DefaultUser); !ok && u.Len() > 0 {
			ch.errf("copy.mysql.default_user", "%q has no password in users_file or users", m.DefaultUser)
		}
	} else if m.DefaultSchema != "" {
		ch.errf("copy.mysql.default_schema", "%q is set without default_user: the default login needs a user", m.DefaultSchema)
	}
	return reported
}

// loadUsersFile reads path (relative to dir) with protocol/mysql's
// parser, whose errors name file:line; it also returns the file's mode.
func loadUsersFile(path, dir string) (*mysql.Users, os.FileMode, error) {
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read users file %q: %v", path, unwrapPathError(err))
	}
	u, err := mysql.LoadUsers(path)
	if err != nil {
		return nil, 0, err
	}
	if u.Len() == 0 {
		return nil, 0, errors.New("users file " + path + " lists no user")
	}
	return u, fi.Mode().Perm(), nil
}
