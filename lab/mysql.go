package lab

// MariaDB in the lab: Debian's mariadb-server (10.11) started per
// namespace with a datadir, socket and log of its own, real accounts (no
// --skip-grant-tables), and sysbench as the client's load.
//
//	InstallMariaDB: mariadb-install-db into a datadir (root logs in by the
//	    unix socket only)
//	Lab.StartMariaDB: mariadbd in a host's namespace on its lab address,
//	    waits until the socket answers
//	MariaDB.SQL / Status: the mariadb client through the socket (from the
//	    root namespace: a unix socket is a file, not a network address)
//	CopyDatadir: online and target start from the same data and accounts
//	Lab.Sysbench: sysbench in a host's namespace, bounded by its --time

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The Debian programs the MariaDB lab runs.
const (
	MariaDBServer  = "/usr/sbin/mariadbd"
	MariaDBInstall = "/usr/bin/mariadb-install-db"
	MariaDBClient  = "/usr/bin/mariadb"
	SysbenchBin    = "/usr/bin/sysbench"
)

// MissingMariaDB names the first MariaDB lab program that is not
// installed, "" when all are (.ci/deps installs them).
func MissingMariaDB() string {
	for _, p := range []string{MariaDBServer, MariaDBInstall, MariaDBClient, SysbenchBin} {
		if _, err := os.Stat(p); err != nil {
			return p
		}
	}
	return ""
}

// mariadbSmall are the server options that keep a lab instance small and
// quick: little memory, short logs, no disk flush per commit.
var mariadbSmall = []string{
	"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M",
	"--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--performance-schema=off",
}

// InstallMariaDB creates the system tables in dir, a new datadir.
func InstallMariaDB(ctx context.Context, dir string) error {
	args := append([]string{"--no-defaults", "--datadir=" + dir, "--user=root",
		"--auth-root-authentication-method=socket", "--skip-test-db"}, mariadbSmall...)
	out, err := exec.CommandContext(ctx, MariaDBInstall, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: mariadb-install-db: %w\n%s", err, tail(out, 10))
	}
	return nil
}

// CopyDatadir copies a stopped server's datadir to dst (cp -a).
func CopyDatadir(src, dst string) error {
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("lab: copy datadir %s: %w: %s", src, err, out)
	}
	return nil
}

// MariaDB is one mariadbd in a lab host's namespace.
type MariaDB struct {
	Host   Host
	Addr   netip.AddrPort // on the host's lab address
	Dir    string         // datadir
	Socket string
	Log    string // the server's error log
	proc   *Proc
}

// StartMariaDB runs mariadbd on datadir in h's namespace, listening on h's
// lab address at port and on a socket beside the datadir, and waits until
// it answers on the socket. The lab stops it on Close; Stop shuts it down
// cleanly before.
func (l *Lab) StartMariaDB(ctx context.Context, h Host, datadir string, port uint16) (*MariaDB, error) {
	base := filepath.Dir(datadir)
	m := &MariaDB{
		Host: h, Addr: netip.AddrPortFrom(l.Addr(h), port), Dir: datadir,
		Socket: filepath.Join(base, string(h)+".sock"), Log: filepath.Join(base, string(h)+"-mariadb.log"),
	}
	args := append([]string{MariaDBServer, "--no-defaults", "--user=root", "--datadir=" + datadir,
		"--socket=" + m.Socket, "--pid-file=" + filepath.Join(base, string(h)+".pid"),
		"--log-error=" + m.Log, "--bind-address=" + m.Addr.Addr().String(), "--port=" + strconv.Itoa(int(port)),
		"--skip-name-resolve", "--max-connections=200", "--max-prepared-stmt-count=100000"}, mariadbSmall...)
	p, err := l.Start(h, nil, args...)
	if err != nil {
		return nil, err
	}
	m.proc = p
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err = m.SQL(ctx, "SELECT 1"); err == nil {
			return m, nil
		}
		select {
		case <-p.Done():
			return nil, fmt.Errorf("lab: mariadbd in %s exited: %v\n%s", h, p.Err(), LogTail(m.Log, 15))
		case <-ctx.Done():
			_ = m.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = m.Stop()
			return nil, fmt.Errorf("lab: mariadbd in %s not ready after 30s: %v\n%s", h, err, LogTail(m.Log, 15))
		}
	}
}

// Stop shuts the server down (SIGTERM: a clean shutdown, so that the
// datadir can be copied), waiting up to 30 s.
func (m *MariaDB) Stop() error {
	if m == nil || m.proc == nil {
		return nil
	}
	return m.proc.Stop(30 * time.Second)
}

// SQL runs stmts as root through the socket (batch mode: tab-separated
// rows, no column names) and returns the output.
func (m *MariaDB) SQL(ctx context.Context, stmts string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, MariaDBClient, "--no-defaults", "--socket="+m.Socket, "-uroot",
		"--batch", "--skip-column-names", "-e", stmts)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("lab: mariadb on %s: %w: %s", m.Host, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Status is SHOW GLOBAL STATUS as numbers (non-numeric values left out).
func (m *MariaDB) Status(ctx context.Context) (map[string]uint64, error) {
	out, err := m.SQL(ctx, "SHOW GLOBAL STATUS")
	if err != nil {
		return nil, err
	}
	st := make(map[string]uint64)
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			st[k] = n
		}
	}
	if len(st) == 0 {
		return nil, errors.New("lab: SHOW GLOBAL STATUS returned nothing")
	}
	return st, nil
}

// Sysbench runs sysbench with args in h's namespace and returns its
// output; the run is bounded by ctx (and the --time the args give).
func (l *Lab) Sysbench(ctx context.Context, h Host, args ...string) (string, error) {
	cmd := l.ExecContext(ctx, h, append([]string{SysbenchBin}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("lab: sysbench %s in %s: %w\n%s", strings.Join(args, " "), h, err, tail(out, 15))
	}
	return string(out), nil
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func mkdir(d string) error {
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}
