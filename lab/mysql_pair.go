package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// MySQLAccount is one account created alike on both servers of a pair.
type MySQLAccount struct {
	User, Password string
	// Plugin: "" for mysql_native_password, "ed25519" for MariaDB's
	// client_ed25519 (INSTALL SONAME 'auth_ed25519').
	Plugin string
}

// createSQL is the statements that create a on a server (grants on
// database db).
func (a MySQLAccount) createSQL(db string) string {
	how := fmt.Sprintf("IDENTIFIED BY '%s'", a.Password)
	if a.Plugin == "ed25519" {
		how = fmt.Sprintf("IDENTIFIED VIA ed25519 USING PASSWORD('%s')", a.Password)
	}
	return fmt.Sprintf("CREATE USER '%s'@'%%' %s; GRANT ALL ON %s.* TO '%s'@'%%';", a.User, how, db, a.User)
}

// MariaDBPair is the online and the target server of a MySQL lab: the
// same accounts and data on both.
type MariaDBPair struct {
	Online, Target *MariaDB
	DB             string // the database the accounts have rights on
}

// SysbenchArgs are the connection options of a sysbench run against
// server as a (tables and sizes as prepared by StartMariaDBPair).
func (p *MariaDBPair) SysbenchArgs(server netip.AddrPort, a MySQLAccount) []string {
	return []string{"--db-driver=mysql", "--mysql-host=" + server.Addr().String(),
		fmt.Sprintf("--mysql-port=%d", server.Port()), "--mysql-user=" + a.User,
		"--mysql-password=" + a.Password, "--mysql-db=" + p.DB, "--tables=2", "--table-size=500"}
}

// StartMariaDBPair installs a datadir under dir, creates db and the
// accounts on a server in the online namespace, fills sysbench's tables
// from the client host (oltp_read_write prepare, as accounts[0]), stops
// it, copies the datadir for the target, and starts both servers on port
// with their own copies. The lab stops them on Close.
func (l *Lab) StartMariaDBPair(ctx context.Context, dir string, port uint16, db string, accounts []MySQLAccount) (*MariaDBPair, error) {
	if len(accounts) == 0 {
		return nil, fmt.Errorf("lab: mariadb pair: no account")
	}
	onDir, tgDir := filepath.Join(dir, "online", "data"), filepath.Join(dir, "target", "data")
	for _, d := range []string{filepath.Dir(onDir), filepath.Dir(tgDir)} {
		if err := mkdir(d); err != nil {
			return nil, err
		}
	}
	if err := InstallMariaDB(ctx, onDir); err != nil {
		return nil, err
	}
	seed, err := l.StartMariaDB(ctx, Online, onDir, port)
	if err != nil {
		return nil, err
	}
	p := &MariaDBPair{DB: db}
	var sql strings.Builder
	fmt.Fprintf(&sql, "CREATE DATABASE %s;", db)
	for _, a := range accounts {
		if a.Plugin == "ed25519" && !strings.Contains(sql.String(), "auth_ed25519") {
			sql.WriteString("INSTALL SONAME 'auth_ed25519';")
		}
		sql.WriteString(a.createSQL(db))
	}
	if _, err := seed.SQL(ctx, sql.String()); err != nil {
		_ = seed.Stop()
		return nil, err
	}
	args := append([]string{"oltp_read_write"}, p.SysbenchArgs(seed.Addr, accounts[0])...)
	if _, err := l.Sysbench(ctx, Client, append(args, "prepare")...); err != nil {
		_ = seed.Stop()
		return nil, err
	}
	if err := seed.Stop(); err != nil {
		return nil, fmt.Errorf("lab: stop the seeding server: %w", err)
	}
	if err := CopyDatadir(onDir, tgDir); err != nil {
		return nil, err
	}
	if p.Online, err = l.StartMariaDB(ctx, Online, onDir, port); err != nil {
		return nil, err
	}
	if p.Target, err = l.StartMariaDB(ctx, Target, tgDir, port); err != nil {
		_ = p.Online.Stop()
		return nil, err
	}
	return p, nil
}

// Stop shuts both servers down.
func (p *MariaDBPair) Stop() error {
	e1, e2 := p.Online.Stop(), p.Target.Stop()
	if e1 != nil {
		return e1
	}
	return e2
}
